package auth

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Plaintext passwords of the fixtures in testdata/:
//   - mosquitto_passwd.txt: written by mosquitto_passwd 2.0.11
//     (-b; alice and bob default $7$, carol and dave -H sha512, erin -I 1000);
//   - glibc_crypt.txt: glibc crypt(3) through Python 3.11's crypt module, and
//     apruser from `openssl passwd -apr1`;
//   - passwd_py_pbkdf2.txt, passwd_py_sha512crypt.txt: ../passwd.py, default
//     and --sha512-crypt.
var fixturePasswords = map[string]map[string]string{
	"mosquitto_passwd.txt": {
		"alice": "secret",
		"bob":   "hunter2",
		"carol": "pässwörd with spaces",
		"dave":  "x",
		"erin":  "colon:inside",
	},
	"glibc_crypt.txt": {
		"md5user":    "md5 pass",
		"sha256user": "sha256 pass",
		"sha512user": "sha512 pass",
		"rounds512":  "rounds pass",
		"rounds256":  "r256",
		"apruser":    "apr pass",
	},
	"passwd_py_pbkdf2.txt": {
		"frank": "frank pass",
		"grace": "grace:with:colons",
	},
	"passwd_py_sha512crypt.txt": {
		"heidi": "heidi pass",
		"ivan":  "ivän",
	},
}

func TestFixturesVerify(t *testing.T) {
	for file, users := range fixturePasswords {
		p, err := LoadPasswords(filepath.Join("testdata", file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if p.Len() != len(users) {
			t.Errorf("%s: loaded %d users, want %d", file, p.Len(), len(users))
		}
		for user, password := range users {
			if !p.Verify(user, []byte(password)) {
				t.Errorf("%s: %s: right password refused", file, user)
			}
			for _, wrong := range []string{password + "x", strings.ToUpper(password), "", password[:len(password)-1]} {
				if wrong != password && p.Verify(user, []byte(wrong)) {
					t.Errorf("%s: %s: wrong password %q accepted", file, user, wrong)
				}
			}
			if p.Verify(user+"-nobody", []byte(password)) {
				t.Errorf("%s: unknown user accepted", file)
			}
		}
	}
}

// The vectors of research/users.md 3.2 (mosquitto_passwd 2.0.11, "secret").
func TestResearchVectors(t *testing.T) {
	const file = `alice:$7$101$uXzmn9NZpixx9p/M$M6SCl1552yzttRQs/mGM/9OhWMlYTMrxT9qiI4HBZ2lWsXXvgL8tJTh0Xpy0Y0+5YHPsV9sA2ZuU74D7Ocrzzg==
bob:$6$DU4A5BOqRhZ9Ccz+$Zrt/el2EzZFweyu8SA0M7vzESygCQZ/SZUNI19DTrsPyXpbpsMJT8Cy0pqoflqowFxNJcy6EJvZ6Nt33cSaxQg==
carol:$7$1000$35Nk8Q2tQSGemteH$KKmvF0o/sbQESnvKT9FZCau0bx8KRkT4quUqFuNaTK+uCvOoNCbA3THJ4kDPI5y8y8EjIOj+ZWNmymXVa87APQ==
`
	p, err := ParsePasswords(strings.NewReader(file), "vectors")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if !p.Verify(u, []byte("secret")) {
			t.Errorf("%s: secret refused", u)
		}
		if p.Verify(u, []byte("Secret")) {
			t.Errorf("%s: Secret accepted", u)
		}
	}
	if k := p.users["bob"].kind; k != kindMosqSHA {
		t.Errorf("bob's $6$ parsed as kind %d, want mosquitto salted SHA-512", k)
	}
}

func TestSixDisambiguation(t *testing.T) {
	p, err := LoadPasswords(filepath.Join("testdata", "glibc_crypt.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if k := p.users["sha512user"].kind; k != kindCrypt {
		t.Errorf("crypt $6$ parsed as kind %d", k)
	}
	m, err := LoadPasswords(filepath.Join("testdata", "mosquitto_passwd.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if k := m.users["carol"].kind; k != kindMosqSHA {
		t.Errorf("mosquitto $6$ parsed as kind %d", k)
	}
}

func TestLoadErrors(t *testing.T) {
	const good = "ok:$7$101$uXzmn9NZpixx9p/M$M6SCl1552yzttRQs/mGM/9OhWMlYTMrxT9qiI4HBZ2lWsXXvgL8tJTh0Xpy0Y0+5YHPsV9sA2ZuU74D7Ocrzzg==\n"
	cases := []struct {
		name, line  string
		unsupported bool
	}{
		{"plaintext", "u:plainpassword", true},
		{"argon2id", "u:$argon2id$v=19$m=47104,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", true},
		{"bcrypt", "u:$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", true},
		{"no hash", "u", false},
		{"empty hash", "u:", false},
		{"empty user", ":$7$101$a$b", false},
		{"7 short digest", "u:$7$101$uXzmn9NZpixx9p/M$M6SCl155", false},
		{"7 zero iterations", "u:$7$0$uXzmn9NZpixx9p/M$M6SCl1552yzttRQs/mGM/9OhWMlYTMrxT9qiI4HBZ2lWsXXvgL8tJTh0Xpy0Y0+5YHPsV9sA2ZuU74D7Ocrzzg==", false},
		{"7 huge iterations", "u:$7$99999999999$uXzmn9NZpixx9p/M$M6SCl1552yzttRQs/mGM/9OhWMlYTMrxT9qiI4HBZ2lWsXXvgL8tJTh0Xpy0Y0+5YHPsV9sA2ZuU74D7Ocrzzg==", false},
		{"6 neither shape", "u:$6$salt$tooshort", false},
		{"6 bad alphabet", "u:$6$salt$" + strings.Repeat("+", 86), false},
		{"duplicate", "ok:$1$a4la6/eJ$xcsvhk./4LXdlTtfUs9K3/", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePasswords(strings.NewReader("# header\n"+good+c.line+"\n"), "pw.txt")
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), "password file pw.txt line 3") {
				t.Errorf("error %q does not name file and line", err)
			}
			if errors.Is(err, ErrUnsupportedHash) != c.unsupported {
				t.Errorf("error %q: unsupported = %v, want %v", err, !c.unsupported, c.unsupported)
			}
			if _, h, ok := strings.Cut(c.line, ":"); ok && len(h) > 8 && strings.Contains(err.Error(), h) {
				t.Errorf("error %q repeats the stored hash", err)
			}
		})
	}
	if _, err := LoadPasswords(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: %v", err)
	}
}

func TestHashRoundTrip(t *testing.T) {
	for _, password := range []string{"secret", "", "ünïcödé and spaces", strings.Repeat("long", 100)} {
		pb := HashPBKDF2(password)
		if !strings.HasPrefix(pb, "$7$101$") || len(pb) != len("$7$101$")+16+1+88 {
			t.Errorf("HashPBKDF2 shape: %q", pb)
		}
		sc := HashSHA512Crypt(password)
		if !strings.HasPrefix(sc, "$6$") || len(sc) != 3+16+1+86 {
			t.Errorf("HashSHA512Crypt shape: %q", sc)
		}
		file := "u1:" + pb + "\nu2:" + sc + "\n"
		p, err := ParsePasswords(strings.NewReader(file), "generated")
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"u1", "u2"} {
			if !p.Verify(u, []byte(password)) || p.Verify(u, []byte(password+"!")) {
				t.Errorf("%s: %q does not round-trip", u, password)
			}
		}
	}
	if HashPBKDF2("same") == HashPBKDF2("same") {
		t.Error("two hashes of one password share a salt")
	}
}

// TestPasswdPy runs ../passwd.py on a plaintext file in both modes and checks
// the result with LoadPasswords (and so with GehirnInc/crypt for $6$).
func TestPasswdPy(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed; passwd.py not tested")
	}
	users := map[string]string{"u1": "one", "u2": "twö words", "u3": "a:b"}
	for _, mode := range []string{"", "--sha512-crypt"} {
		path := filepath.Join(t.TempDir(), "pw")
		content := "# users\nu1:one\nu2:twö words\nu3:a:b\nkept:" + HashPBKDF2("kept") + "\n"
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		args := []string{"../passwd.py", path}
		if mode != "" {
			args = append(args, mode)
		}
		out, err := exec.Command(python, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("passwd.py %s: %v\n%s", mode, err, out)
		}
		p, err := LoadPasswords(path)
		if err != nil {
			t.Fatalf("passwd.py %s wrote a file we cannot load: %v", mode, err)
		}
		users["kept"] = "kept"
		for u, pw := range users {
			if !p.Verify(u, []byte(pw)) || p.Verify(u, []byte(pw+"x")) {
				t.Errorf("passwd.py %s: user %s does not verify", mode, u)
			}
		}
		want := kindPBKDF2
		if mode != "" {
			want = kindCrypt
		}
		if k := p.users["u1"].kind; k != want {
			t.Errorf("passwd.py %s wrote kind %d, want %d", mode, k, want)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("passwd.py left mode %v", st.Mode().Perm())
		}
		// A second run changes nothing: hashed lines are left alone.
		before, _ := os.ReadFile(path)
		if out, err := exec.Command(python, args...).CombinedOutput(); err != nil {
			t.Fatalf("second run: %v\n%s", err, out)
		}
		after, _ := os.ReadFile(path)
		if string(before) != string(after) {
			t.Errorf("passwd.py %s rehashed already hashed lines", mode)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	files := map[string][]string{
		"mosquitto_passwd.txt": {"alice", "carol", "erin"},
		"glibc_crypt.txt":      {"sha512user", "md5user"},
	}
	for file, users := range files {
		p, err := LoadPasswords(filepath.Join("testdata", file))
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range users {
			pw := []byte(fixturePasswords[file][u])
			b.Run(u, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if !p.Verify(u, pw) {
						b.Fatal("refused")
					}
				}
			})
		}
	}
}
