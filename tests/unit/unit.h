/* unit.h - the suites of the unit tests, each in its file, added to the
 * registry by test_main.c. */
#ifndef PH_UNIT_H
#define PH_UNIT_H

#include <CUnit/Basic.h>

void ph_test_add_layout(void);		/* test_layout.c */
void ph_test_add_objects(void);		/* test_objects.c */
void ph_test_output_register(void);	/* test_output.c */
void ph_test_dominators_register(void); /* test_dominators.c */
void ph_test_snapshot_register(void);	/* test_snapshot.c */
void ph_test_symcache_register(void);	/* test_symcache.c */

#endif /* PH_UNIT_H */
