/* pyheap_demo.c - a program built against an installed libpyheap, as its
 * users build theirs: cc pyheap_demo.c $(pkg-config --cflags --libs pyheap).
 * Prints the library's version, then `types --limit 3` of a core, which
 * must be what `py-heap --core CORE types --limit 3` prints.
 *
 *     pyheap_demo CORE [SYSROOT] */
#include <pyheap.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s CORE [SYSROOT]\n", argv[0]);
		return 2;
	}
	printf("libpyheap %s\n", ph_version());
	struct ph_session *session = NULL;
	struct ph_error *err = ph_session_create_core(
		argv[1], NULL, argc > 2 ? argv[2] : NULL, &session);
	char *out = NULL;
	if (!err) {
		const char *const args[] = {"types", "--limit", "3"};
		err = ph_session_run(session, 3, args, false, &out);
	}
	if (err) {
		fprintf(stderr, "pyheap_demo: %s\n", ph_error_message(err));
		ph_error_destroy(err);
		ph_session_destroy(session);
		return 1;
	}
	fputs(out, stdout);
	ph_free(out);
	ph_session_destroy(session);
	return 0;
}
