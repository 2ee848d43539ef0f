package auth

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

const passwdUsage = `usage: sol passwd [-c | -D] FILE USER
       sol passwd -b [-c] FILE USER PASSWORD
       sol passwd -U FILE

  -b  take the password from the command line (it shows in ps and history)
  -c  create FILE, overwriting an existing one
  -D  delete USER from FILE
  -U  hash every plaintext user:password line of FILE in place
Passwords are written as $7$ (PBKDF2-SHA512), which Mosquitto reads too.`

// PasswdCommand implements `sol passwd`, a mosquitto_passwd work-alike: it
// adds or updates USER in the password file FILE (creating it with -c),
// deletes USER (-D), or hashes a whole plaintext user:password file in place
// (-U). Without -b the password is read from stdin: twice, without echo, when
// stdin is a terminal; one line otherwise. FILE is replaced atomically (a
// temporary file in the same directory, then rename) with mode 0600. It
// writes prompts to stderr and returns an error describing what went wrong;
// nothing it prints contains a password.
func PasswdCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, passwdUsage) }
	batch := fs.Bool("b", false, "password on the command line")
	create := fs.Bool("c", false, "create or overwrite the file")
	del := fs.Bool("D", false, "delete the user")
	upgrade := fs.Bool("U", false, "hash plaintext passwords in place")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	switch {
	case *upgrade:
		if *batch || *create || *del || len(rest) != 1 {
			fs.Usage()
			return errors.New("passwd: -U takes only FILE")
		}
		return upgradeFile(rest[0])
	case *del:
		if *batch || *create || len(rest) != 2 {
			fs.Usage()
			return errors.New("passwd: -D takes FILE USER")
		}
		return updateFile(rest[0], rest[1], "", false, true)
	}
	want := 2
	if *batch {
		want = 3
	}
	if len(rest) != want {
		fs.Usage()
		return fmt.Errorf("passwd: want %d arguments, got %d", want, len(rest))
	}
	file, user := rest[0], rest[1]
	if err := checkUsername(user); err != nil {
		return err
	}
	var password string
	if *batch {
		password = rest[2]
	} else {
		p, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		password = p
	}
	if password == "" {
		return errors.New("passwd: empty password")
	}
	return updateFile(file, user, HashPBKDF2(password), *create, false)
}

func checkUsername(user string) error {
	if user == "" || strings.ContainsAny(user, ":\r\n") || strings.TrimSpace(user) != user {
		return fmt.Errorf("passwd: invalid username %q (no ':', newlines or surrounding spaces)", user)
	}
	return nil
}

// readPassword prompts twice without echo on a terminal, or reads one line.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && isTerminal(int(f.Fd())) {
		first, err := readNoEcho(f, stderr, "Password: ")
		if err != nil {
			return "", err
		}
		second, err := readNoEcho(f, stderr, "Reenter password: ")
		if err != nil {
			return "", err
		}
		if first != second {
			return "", errors.New("passwd: passwords do not match")
		}
		return first, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("passwd: reading the password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readNoEcho reads one line from the terminal f with echo switched off,
// restoring the terminal's settings afterwards.
func readNoEcho(f *os.File, stderr io.Writer, prompt string) (string, error) {
	fmt.Fprint(stderr, prompt)
	restore, err := disableEcho(int(f.Fd()))
	if err != nil {
		return "", fmt.Errorf("passwd: switching off echo: %w", err)
	}
	defer fmt.Fprintln(stderr)
	defer restore()
	var line []byte
	var b [1]byte
	for {
		n, err := f.Read(b[:])
		if n == 1 {
			if b[0] == '\n' || b[0] == '\r' {
				return string(line), nil
			}
			line = append(line, b[0])
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return string(line), nil
			}
			return "", fmt.Errorf("passwd: reading the password: %w", err)
		}
	}
}

// updateFile sets (hash != "") or deletes user's line in file.
func updateFile(file, user, hash string, create, del bool) error {
	var lines []string
	if !create {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("passwd: %w (use -c to create it)", err)
		}
		lines = splitLines(data)
	}
	found := false
	out := lines[:0:0]
	for _, l := range lines {
		u, _, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(u) == user && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			found = true
			if del {
				continue
			}
			l = user + ":" + hash
		}
		out = append(out, l)
	}
	if del && !found {
		return fmt.Errorf("passwd: user %q not in %s", user, file)
	}
	if !found && !del {
		out = append(out, user+":"+hash)
	}
	return writeAtomic(file, out)
}

// upgradeFile hashes every line that does not already hold a hash sol reads.
func upgradeFile(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	lines := splitLines(data)
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			continue
		}
		u, pw, ok := strings.Cut(t, ":")
		if !ok {
			return fmt.Errorf("passwd: %s line %d: no ':' after the username", file, i+1)
		}
		if _, err := parseHash(pw); err == nil {
			continue // already hashed
		}
		if pw == "" {
			return fmt.Errorf("passwd: %s line %d: empty password", file, i+1)
		}
		lines[i] = strings.TrimSpace(u) + ":" + HashPBKDF2(pw)
	}
	return writeAtomic(file, lines)
}

func splitLines(data []byte) []string {
	data = bytes.TrimRight(data, "\n")
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\n")
}

// writeAtomic writes lines to a temporary file beside file, syncs it and
// renames it over file, so a reader (the broker on SIGHUP) sees the old file
// or the new one, never half of one.
func writeAtomic(file string, lines []string) error {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp*")
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("passwd: %w", err)
	}
	w := bufio.NewWriter(tmp)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("passwd: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("passwd: syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	return nil
}
