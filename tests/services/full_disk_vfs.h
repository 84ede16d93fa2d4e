#pragma once
// A fault-injecting SQLite VFS for the disk-full tests: it forwards every call to the default VFS,
// except that while disk_full() is set, writes and file growth fail with SQLITE_FULL exactly as
// they do when the volume is full. Reads keep working, as on a real full disk. Installed as the
// process's default VFS, so the code under test runs unchanged.
//
// Why not a real 2 MiB tmpfs: mounting needs root and CAP_SYS_ADMIN, which CI containers rarely
// grant; the VFS gives the same error from the same SQLite calls, deterministically.
#include <atomic>

namespace reel::testing {

// Registers the VFS as the default (idempotent). Must run before the store is opened.
void InstallFullDiskVfs();
// Turns the fault on (true) or off (false).
void SetDiskFull(bool full);
bool disk_full();
// Writes refused with SQLITE_FULL so far (proves the fault was hit).
int refused_writes();

}  // namespace reel::testing
