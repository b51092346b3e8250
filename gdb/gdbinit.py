# py-heap: loads the py-heap commands into every GDB session.
#
# Installed into the directory GDB reads at start (its system gdbinit
# directory: `gdb --configuration` shows --with-system-gdbinit-dir, on
# Debian /etc/gdb/gdbinit.d), so `gdb python3 core` has `py-heap` without
# an edit to ~/.gdbinit. A Python file rather than a .gdb one: a GDB
# built without Python skips it, and once the py-heap package is removed
# (not purged) it finds no script and stays quiet. `gdb -nx` reads none of
# these files: `source` the script below then.
import os.path as _pyheap_ospath

import gdb

if _pyheap_ospath.exists("@SCRIPT@"):
    try:
        gdb.execute("source @SCRIPT@")
    except gdb.error as _pyheap_e:
        # one line, not a traceback at every start
        gdb.write("%s\n" % _pyheap_e, gdb.STDERR)
