//go:build !unix

package main

// dropPassphraseEnv does nothing where the program cannot start itself
// again without the variable; TAKECARE_PASSPHRASE then stays in the
// process's environment (docs/THREAT_MODEL.md, section 6).
func dropPassphraseEnv([]string) {}
