// Package auth checks passwords and ACLs in the formats operators already have
// (crypt(3), Mosquitto's $6$ and $7$ password files, Mosquitto's ACL file).
//
// # Password files
//
// LoadPasswords reads `user:hash` lines. Hashes: Mosquitto 2's $7$
// (PBKDF2-HMAC-SHA512, any iteration count and salt length), Mosquitto 1.x's
// salted SHA-512 $6$, and crypt(3) $6$, $5$, $1$ and $apr1$ through
// github.com/GehirnInc/crypt. The two $6$ formats are told apart by shape
// (research/users.md 3.5). A line sol cannot verify (argon2id from Mosquitto
// 2.1, bcrypt, plaintext) fails the load with the file and line, where
// Mosquitto would skip it with a warning: a user silently locked out is worse
// than a reload that says why it refused. What sol writes (HashPBKDF2,
// `sol passwd`, passwd.py) is mosquitto_passwd 2.0's default, so the file
// works in both brokers; TestMosquittoInterop checks that against a real
// Mosquitto.
//
// # Off the loops
//
// A hash check takes from a millisecond ($7$ at 101 iterations is 0.2 ms) to
// several ($6$ crypt at 5000 rounds is 3 ms). Authenticator.CheckPassword
// copies the credentials into a Request for a Pool of GOMAXPROCS workers with a
// bounded queue; Submit never blocks, and a full queue is the caller's cue to
// answer Server Busy. The verdict comes back through the Request's Done
// callback on a worker goroutine; the broker posts it to the connection's
// loop, whose reads stay paused meanwhile.
//
// # ACL
//
// Mosquitto 2.0's default ACL semantics, described on ACL, with one
// difference: Mosquitto accepts every SUBSCRIBE and filters at delivery,
// while CanSubscribe also refuses a filter that could never deliver anything
// (no read rule overlaps it, or a deny rule covers it), so the client gets an
// honest SUBACK 0x87 instead of a silent subscription. Delivery is still
// filtered per message by CanRead, which allocates nothing.
//
// # Reload
//
// Authenticator keeps the current Passwords and ACL behind atomic pointers.
// Reload loads both files and swaps both, or neither when either is broken;
// readers never lock.
package auth
