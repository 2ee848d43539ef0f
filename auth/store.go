package auth

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Authenticator holds the current password file and ACL, swapped atomically
// by Reload, and the worker Pool that verifies passwords. It implements the
// broker's Authenticator interface. All methods are safe for concurrent use
// from every event loop.
//
// Connect policy (the broker applies it; AllowAnonymous is per listener):
//   - a client without a username is admitted iff its listener allows
//     anonymous clients, and is then subject to the anonymous ACL rules;
//   - a client with a username, when a password file is loaded, is admitted
//     iff CheckPassword's verdict is true (an unknown user is refused);
//   - a client with a username and no password file loaded is treated like an
//     anonymous one for admission (Mosquitto 2 refuses everyone on a listener
//     with allow_anonymous false and no password file), but the ACL sees its
//     username.
//
// Admit encodes exactly this.
type Authenticator struct {
	passwordFile string
	aclFile      string

	passwords atomic.Pointer[Passwords] // nil: no password file
	acl       atomic.Pointer[ACL]       // nil: no ACL file, everything allowed

	reloadMu sync.Mutex // serialises Reload
	pool     *Pool
}

// NewAuthenticator loads passwordFile and aclFile (either may be "" for none)
// and starts a verification pool of workers goroutines (GOMAXPROCS when
// workers <= 0). It returns an error naming the file and line when a file
// cannot be loaded. Close stops the pool.
func NewAuthenticator(passwordFile, aclFile string, workers int) (*Authenticator, error) {
	a := &Authenticator{passwordFile: passwordFile, aclFile: aclFile}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	a.pool = NewPool(workers, 0, a.Verify)
	return a, nil
}

// Reload re-reads both files and swaps them in together. If either file is
// broken, nothing changes: the previous passwords and ACL stay in force and
// the error says which file and line is wrong. Connections already admitted
// are not re-checked; ACL checks after Reload returns use the new ACL.
func (a *Authenticator) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	var (
		pw   *Passwords
		acl  *ACL
		errs []error
		err  error
	)
	if a.passwordFile != "" {
		if pw, err = LoadPasswords(a.passwordFile); err != nil {
			errs = append(errs, err)
		}
	}
	if a.aclFile != "" {
		if acl, err = LoadACL(a.aclFile); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("auth reload: %w", errors.Join(errs...))
	}
	a.passwords.Store(pw)
	a.acl.Store(acl)
	return nil
}

// Close stops the verification pool; queued checks are answered false.
func (a *Authenticator) Close() {
	if a.pool != nil {
		a.pool.Close()
	}
}

// HasPasswords reports whether a password file is loaded.
func (a *Authenticator) HasPasswords() bool { return a.passwords.Load() != nil }

// Verify checks username and password against the current password file,
// synchronously and slowly (one hash computation). It returns false when no
// password file is loaded. It does not keep password. Call it from a worker,
// never from an event loop.
func (a *Authenticator) Verify(username string, password []byte) bool {
	pw := a.passwords.Load()
	if pw == nil {
		return false
	}
	return pw.Verify(username, password)
}

// CheckPassword verifies username and password on the worker pool and calls
// done with the verdict on a worker goroutine. It copies both slices before
// returning, so they may point into a read buffer. It returns false, and
// never calls done, when the queue is full (the client is refused with Server
// Busy) or the Authenticator is closed.
func (a *Authenticator) CheckPassword(username, password []byte, done func(ok bool)) bool {
	req := &Request{Username: string(username), Password: append([]byte(nil), password...), Done: done}
	if a.pool.Submit(req) {
		return true
	}
	clear(req.Password)
	return false
}

// Verdict is Admit's answer.
type Verdict uint8

// Admit's answers.
const (
	// Refused: bad credentials or anonymous on a listener that forbids it
	// (CONNACK 0x86 / 0x87 for 5.0, 0x04 / 0x05 for 3.1.1).
	Refused Verdict = iota
	// Admitted: no password check is needed.
	Admitted
	// Pending: the password is being verified; done will be called.
	Pending
	// Busy: the verification queue is full (5.0: CONNACK 0x89 Server Busy,
	// 3.1.1: 0x03 Server unavailable).
	Busy
)

// Admit applies the connect policy described on Authenticator. hasUsername
// tells a missing username from an empty one. When it returns Pending, done
// will be called once on a worker goroutine; otherwise done is never called.
// It copies username and password; any goroutine may call it.
func (a *Authenticator) Admit(hasUsername bool, username, password []byte, allowAnonymous bool, done func(ok bool)) Verdict {
	if !hasUsername || !a.HasPasswords() {
		if allowAnonymous {
			return Admitted
		}
		return Refused
	}
	if a.CheckPassword(username, password, done) {
		return Pending
	}
	return Busy
}

// CanPublish reports whether the client may publish to topic; true when no
// ACL file is loaded. See ACL.CanPublish.
func (a *Authenticator) CanPublish(clientID, username string, topic []byte) bool {
	acl := a.acl.Load()
	return acl == nil || acl.CanPublish(clientID, username, topic)
}

// CanSubscribe reports whether the client may subscribe to filter; true when
// no ACL file is loaded. See ACL.CanSubscribe.
func (a *Authenticator) CanSubscribe(clientID, username string, filter []byte) bool {
	acl := a.acl.Load()
	return acl == nil || acl.CanSubscribe(clientID, username, filter)
}

// CanRead reports whether a message on topic may be delivered to the client;
// true when no ACL file is loaded. It does not allocate. See ACL.CanRead.
func (a *Authenticator) CanRead(clientID, username string, topic []byte) bool {
	acl := a.acl.Load()
	return acl == nil || acl.CanRead(clientID, username, topic)
}
