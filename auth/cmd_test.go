package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runPasswd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := PasswdCommand(args, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func mustLoad(t *testing.T, path string) *Passwords {
	t.Helper()
	p, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPasswdCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")

	if _, err := runPasswd(t, "", "-b", file, "alice", "one"); err == nil {
		t.Fatal("updating a missing file without -c succeeded")
	}
	if out, err := runPasswd(t, "", "-c", "-b", file, "alice", "one"); err != nil {
		t.Fatalf("-c -b: %v\n%s", err, out)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if p := mustLoad(t, file); !p.Verify("alice", []byte("one")) || p.users["alice"].kind != kindPBKDF2 {
		t.Fatal("-c -b did not write alice's $7$ hash")
	}

	// Password from a non-terminal stdin: one line.
	if out, err := runPasswd(t, "two words\n", file, "bob"); err != nil {
		t.Fatalf("stdin: %v\n%s", err, out)
	}
	// Update keeps the others, in place.
	if out, err := runPasswd(t, "", "-b", file, "alice", "uno"); err != nil {
		t.Fatalf("update: %v\n%s", err, out)
	}
	p := mustLoad(t, file)
	if !p.Verify("alice", []byte("uno")) || p.Verify("alice", []byte("one")) || !p.Verify("bob", []byte("two words")) || p.Len() != 2 {
		t.Fatal("update lost or kept the wrong password")
	}
	data, _ := os.ReadFile(file)
	if !strings.HasPrefix(string(data), "alice:") {
		t.Errorf("update moved alice's line:\n%s", data)
	}
	if strings.Contains(string(data), "uno") || strings.Contains(string(data), "two words") {
		t.Error("a plaintext password reached the file")
	}

	// -D deletes, and refuses an unknown user.
	if out, err := runPasswd(t, "", "-D", file, "alice"); err != nil {
		t.Fatalf("-D: %v\n%s", err, out)
	}
	if p := mustLoad(t, file); p.Len() != 1 || p.Verify("alice", []byte("uno")) {
		t.Error("-D did not delete alice")
	}
	if _, err := runPasswd(t, "", "-D", file, "alice"); err == nil {
		t.Error("-D of an absent user succeeded")
	}

	// -c overwrites.
	if _, err := runPasswd(t, "", "-c", "-b", file, "carol", "three"); err != nil {
		t.Fatal(err)
	}
	if p := mustLoad(t, file); p.Len() != 1 || !p.Verify("carol", []byte("three")) {
		t.Error("-c did not overwrite the file")
	}

	for _, bad := range [][]string{
		{file},                      // no user
		{"-b", file, "u"},           // no password
		{file, "u", "extra"},        // password without -b
		{"-b", file, "a:b", "pw"},   // ':' in the username
		{"-b", file, "u", ""},       // empty password
		{"-D", "-c", file, "carol"}, // -D with -c
		{"-x", file, "u"},           // unknown flag
	} {
		if _, err := runPasswd(t, "", bad...); err == nil {
			t.Errorf("passwd %q succeeded", bad)
		}
	}
	if _, err := runPasswd(t, "", file, "dave"); err == nil {
		t.Error("an empty stdin gave a password")
	}
	// Nothing above changed the file.
	if p := mustLoad(t, file); p.Len() != 1 || !p.Verify("carol", []byte("three")) {
		t.Error("a refused command changed the file")
	}
}

func TestPasswdUpgrade(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	kept := HashSHA512Crypt("kept")
	writeFile(t, file, "# users\nalice:one\nbob:"+kept+"\ncarol:with:colon\n")
	if out, err := runPasswd(t, "", "-U", file); err != nil {
		t.Fatalf("-U: %v\n%s", err, out)
	}
	p := mustLoad(t, file)
	for u, pw := range map[string]string{"alice": "one", "bob": "kept", "carol": "with:colon"} {
		if !p.Verify(u, []byte(pw)) {
			t.Errorf("%s does not verify after -U", u)
		}
	}
	data, _ := os.ReadFile(file)
	if !strings.Contains(string(data), "bob:"+kept+"\n") || !strings.HasPrefix(string(data), "# users\n") {
		t.Errorf("-U changed hashed or comment lines:\n%s", data)
	}
}

// TestPasswdNoTempLeft checks the atomic replacement cleans up after itself.
func TestPasswdNoTempLeft(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	for _, u := range []string{"a", "b", "c"} {
		if _, err := runPasswd(t, "", "-c", "-b", file, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the password file", len(entries))
	}
}
