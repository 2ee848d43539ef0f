package auth

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkPassword runs CheckPassword and waits for the verdict.
func checkPassword(t *testing.T, a *Authenticator, user, password string) bool {
	t.Helper()
	verdict := make(chan bool, 1)
	if !a.CheckPassword([]byte(user), []byte(password), func(ok bool) { verdict <- ok }) {
		t.Fatal("CheckPassword refused: queue full")
	}
	select {
	case ok := <-verdict:
		return ok
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict")
	}
	return false
}

func TestAuthenticatorReload(t *testing.T) {
	dir := t.TempDir()
	pwFile, aclFile := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	writeFile(t, pwFile, "alice:"+HashPBKDF2("one")+"\n")
	writeFile(t, aclFile, "user alice\ntopic read a/#\n")
	a, err := NewAuthenticator(pwFile, aclFile, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.HasPasswords() || !checkPassword(t, a, "alice", "one") || checkPassword(t, a, "alice", "two") {
		t.Fatal("initial password file not in force")
	}
	if !a.CanRead("c", "alice", []byte("a/x")) || a.CanRead("c", "alice", []byte("b/x")) {
		t.Fatal("initial ACL not in force")
	}

	// Both files change; the password file is broken: nothing changes.
	writeFile(t, pwFile, "alice:"+HashPBKDF2("two")+"\nbob:plaintext\n")
	writeFile(t, aclFile, "user alice\ntopic read b/#\n")
	err = a.Reload()
	if err == nil || !strings.Contains(err.Error(), pwFile+" line 2") {
		t.Fatalf("Reload with a broken password file: %v", err)
	}
	if !checkPassword(t, a, "alice", "one") || !a.CanRead("c", "alice", []byte("a/x")) || a.CanRead("c", "alice", []byte("b/x")) {
		t.Fatal("a failed Reload changed the passwords or the ACL")
	}

	// A broken ACL keeps both as well.
	writeFile(t, pwFile, "alice:"+HashPBKDF2("two")+"\n")
	writeFile(t, aclFile, "user alice\ntopic sometimes b/#\n")
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), aclFile+" line 2") {
		t.Fatalf("Reload with a broken ACL: %v", err)
	}
	if !checkPassword(t, a, "alice", "one") || !a.CanRead("c", "alice", []byte("a/x")) {
		t.Fatal("a failed Reload changed the passwords or the ACL")
	}

	// Both fixed: both swap.
	writeFile(t, aclFile, "user alice\ntopic read b/#\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if checkPassword(t, a, "alice", "one") || !checkPassword(t, a, "alice", "two") {
		t.Error("new password file not in force after Reload")
	}
	if a.CanRead("c", "alice", []byte("a/x")) || !a.CanRead("c", "alice", []byte("b/x")) {
		t.Error("new ACL not in force after Reload")
	}

	// A file that disappears is an error too, keeping the old state.
	os.Remove(aclFile)
	if err := a.Reload(); err == nil {
		t.Error("Reload with a missing ACL file succeeded")
	}
	if !a.CanRead("c", "alice", []byte("b/x")) {
		t.Error("a failed Reload dropped the ACL")
	}
}

// TestReloadUnderLoad swaps files while other goroutines check the ACL; run
// with -race it shows the swap is safe for concurrent readers.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	aclFile := filepath.Join(dir, "acl")
	writeFile(t, aclFile, "topic read a/#\n")
	a, err := NewAuthenticator("", aclFile, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := []byte("a/x")
			for {
				select {
				case <-stop:
					return
				default:
					a.CanRead("c", "", topic)
				}
			}
		}()
	}
	for i := range 20 {
		writeFile(t, aclFile, strings.Repeat("topic read a/#\n", i+1))
		if err := a.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestAuthenticatorNoFiles(t *testing.T) {
	a, err := NewAuthenticator("", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.HasPasswords() {
		t.Error("HasPasswords without a password file")
	}
	if !a.CanPublish("c", "u", []byte("x")) || !a.CanSubscribe("c", "", []byte("#")) || !a.CanRead("c", "", []byte("$SYS/x")) {
		t.Error("no ACL file must allow everything")
	}
	if checkPassword(t, a, "u", "p") {
		t.Error("a password verified without a password file")
	}
}

func TestNewAuthenticatorErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	writeFile(t, bad, "u:plain\n")
	if _, err := NewAuthenticator(bad, "", 1); err == nil || !strings.Contains(err.Error(), bad+" line 1") {
		t.Errorf("bad password file: %v", err)
	}
	if _, err := NewAuthenticator("", filepath.Join(dir, "missing"), 1); err == nil {
		t.Error("missing ACL file accepted")
	}
}

func TestAdmit(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwd")
	writeFile(t, pwFile, "alice:"+HashPBKDF2("one")+"\n")
	withPw, err := NewAuthenticator(pwFile, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer withPw.Close()
	noPw, err := NewAuthenticator("", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer noPw.Close()

	never := func(bool) { t.Error("done called for a decision taken at once") }
	cases := []struct {
		name        string
		a           *Authenticator
		hasUsername bool
		anonymous   bool
		want        Verdict
	}{
		{"anonymous allowed", withPw, false, true, Admitted},
		{"anonymous refused", withPw, false, false, Refused},
		{"no password file, anonymous allowed", noPw, true, true, Admitted},
		{"no password file, anonymous refused", noPw, true, false, Refused},
	}
	for _, c := range cases {
		if got := c.a.Admit(c.hasUsername, []byte("alice"), []byte("one"), c.anonymous, never); got != c.want {
			t.Errorf("%s: Admit = %d, want %d", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		password string
		want     bool
	}{{"one", true}, {"two", false}} {
		verdict := make(chan bool, 1)
		if got := withPw.Admit(true, []byte("alice"), []byte(c.password), false, func(ok bool) { verdict <- ok }); got != Pending {
			t.Fatalf("Admit with a username = %d, want Pending", got)
		}
		select {
		case ok := <-verdict:
			if ok != c.want {
				t.Errorf("password %q: verdict %v", c.password, ok)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no verdict")
		}
	}
}

// TestCheckPasswordCopies shows the caller may reuse its buffers at once: the
// worker is held until the caller has overwritten them.
func TestCheckPasswordCopies(t *testing.T) {
	pw, err := ParsePasswords(strings.NewReader("alice:"+HashSHA512Crypt("one")+"\n"), "mem")
	if err != nil {
		t.Fatal(err)
	}
	a := &Authenticator{}
	a.passwords.Store(pw)
	release := make(chan struct{})
	a.pool = NewPool(1, 1, func(u string, p []byte) bool {
		<-release
		return a.Verify(u, p)
	})
	defer a.Close()
	user, password := []byte("alice"), []byte("one")
	verdict := make(chan bool, 1)
	if !a.CheckPassword(user, password, func(ok bool) { verdict <- ok }) {
		t.Fatal("refused")
	}
	copy(user, "xxxxx")
	copy(password, "xxx")
	close(release)
	select {
	case ok := <-verdict:
		if !ok {
			t.Error("overwriting the caller's buffers changed the verdict")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict")
	}
}
