// Modes of the files and directories prom-multiproc creates. The umask can only take bits
// away from these, so whatever it is, no other local user can change what we write: group
// and others may read (a collector may run as another user), never write. A directory is
// shared between users on purpose by its owner (a group-writable, setgid directory:
// docs/security.md); we never widen the mode of one we did not create.
export const FILE_MODE = 0o644;
export const DIRECTORY_MODE = 0o755;
