// Package auth checks passwords and ACLs in the formats operators already have
// (crypt(3), Mosquitto's $6$ and $7$ password files, Mosquitto's ACL file).
package auth
