package auth

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/apr1_crypt" // $apr1$, as htpasswd writes
	_ "github.com/GehirnInc/crypt/md5_crypt"  // $1$
	_ "github.com/GehirnInc/crypt/sha256_crypt"
	"github.com/GehirnInc/crypt/sha512_crypt"
)

// Hash parameters of what we write. They follow mosquitto_passwd 2.0 so a
// file written by sol is read by Mosquitto unchanged.
const (
	// PBKDF2Iterations is mosquitto_passwd 2.0's default (PW_DEFAULT_ITERATIONS
	// in src/password_mosq.h). Mosquitto 2.1 raises it; a file may carry any
	// count and Verify honours it.
	PBKDF2Iterations = 101
	// pbkdf2SaltLen is mosquitto's SALT_LEN; 2.1 writes 64-byte salts, and
	// the reader accepts any length.
	pbkdf2SaltLen = 12
	// sha512Len is the digest size both mosquitto formats store.
	sha512Len = sha512.Size
	// maxPBKDF2Iterations bounds the work one line of a password file can
	// ask of a worker (mosquitto 2.1's default is 210000).
	maxPBKDF2Iterations = 10_000_000
	// maxLineLen bounds one line of a password or ACL file.
	maxLineLen = 64 << 10
)

// hashKind tells apart the password formats a file may hold.
type hashKind uint8

const (
	kindPBKDF2  hashKind = iota + 1 // mosquitto 2.0 $7$iterations$salt$hash
	kindMosqSHA                     // mosquitto 1.x $6$salt$hash, SHA-512(password||salt)
	kindCrypt                       // crypt(3) $1$, $5$, $6$, $apr1$
)

// entry is one user's stored hash, decoded once at load time.
type entry struct {
	kind       hashKind
	iterations int
	salt       []byte
	sum        []byte
	encoded    string // the crypt(3) string, for kindCrypt
}

// Passwords is an immutable, loaded password file. It is safe for concurrent
// use by any number of goroutines.
type Passwords struct {
	users map[string]*entry
	// decoy is verified, and its result thrown away, for unknown users so that
	// a client cannot tell which usernames exist by timing the refusal.
	decoy *entry
}

// ErrUnsupportedHash is wrapped by load errors for a line whose hash format
// sol cannot verify (argon2id, bcrypt, yescrypt, plaintext, ...).
var ErrUnsupportedHash = errors.New("unsupported password hash format")

// LoadPasswords reads a Mosquitto-style password file: one `user:hash` line
// per user, blank lines and lines starting with '#' ignored. Every line must
// hold a hash sol can verify; the first bad line fails the whole load with an
// error naming the file and the line (never the hash). Any goroutine may call
// it.
func LoadPasswords(path string) (*Passwords, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	defer f.Close()
	return ParsePasswords(f, path)
}

// ParsePasswords is LoadPasswords over a reader; name is used in errors.
func ParsePasswords(r io.Reader, name string) (*Passwords, error) {
	p := &Passwords{users: make(map[string]*entry)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLineLen)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		user = strings.TrimSpace(user)
		hash = strings.TrimSpace(hash)
		if !ok || hash == "" {
			return nil, fmt.Errorf("password file %s line %d: no password hash after the username", name, n)
		}
		if user == "" {
			return nil, fmt.Errorf("password file %s line %d: empty username", name, n)
		}
		e, err := parseHash(hash)
		if err != nil {
			return nil, fmt.Errorf("password file %s line %d: user %q: %w", name, n, user, err)
		}
		if _, dup := p.users[user]; dup {
			return nil, fmt.Errorf("password file %s line %d: user %q listed twice", name, n, user)
		}
		p.users[user] = e
		if p.decoy == nil {
			p.decoy = e
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password file %s after line %d: %w", name, n, err)
	}
	return p, nil
}

// Len returns the number of users in the file.
func (p *Passwords) Len() int { return len(p.users) }

// Verify reports whether password is user's password. It takes as long as one
// hash computation whether or not the user exists, compares digests in
// constant time, and does not keep or modify password. Safe for concurrent
// use; it is slow by design (milliseconds for crypt(3) hashes), so the broker
// calls it from the worker Pool, never from an event loop.
func (p *Passwords) Verify(user string, password []byte) bool {
	e, ok := p.users[user]
	if !ok {
		if p.decoy != nil {
			p.decoy.verify(password) // result ignored: only the time matters
		}
		return false
	}
	return e.verify(password)
}

func (e *entry) verify(password []byte) bool {
	switch e.kind {
	case kindPBKDF2:
		sum, err := pbkdf2.Key(sha512.New, string(password), e.salt, e.iterations, len(e.sum))
		if err != nil {
			return false
		}
		return subtle.ConstantTimeCompare(sum, e.sum) == 1
	case kindMosqSHA:
		h := sha512.New()
		h.Write(password)
		h.Write(e.salt)
		var buf [sha512Len]byte
		return subtle.ConstantTimeCompare(h.Sum(buf[:0]), e.sum) == 1
	case kindCrypt:
		// GehirnInc's Verify regenerates the hash and compares with
		// subtle.ConstantTimeCompare.
		return crypt.NewFromHash(e.encoded).Verify(e.encoded, password) == nil
	}
	return false
}

// parseHash decodes one stored hash, telling Mosquitto's salted SHA-512
// `$6$` apart from crypt(3)'s `$6$` by shape (research/users.md 3.5): the
// former has a standard-base64 salt of 12 bytes and an 88-character padded
// standard-base64 digest, the latter an 86-character digest in crypt's
// alphabet, which has neither '+' nor '='.
func parseHash(h string) (*entry, error) {
	switch {
	case strings.HasPrefix(h, "$7$"):
		return parsePBKDF2(h)
	case strings.HasPrefix(h, "$6$"):
		if e, ok := parseMosqSHA(h); ok {
			return e, nil
		}
		return parseCrypt(h, 86, 16, true)
	case strings.HasPrefix(h, "$5$"):
		return parseCrypt(h, 43, 16, true)
	case strings.HasPrefix(h, "$1$"), strings.HasPrefix(h, "$apr1$"):
		return parseCrypt(h, 22, 8, false)
	}
	kind := "plaintext or unknown"
	if strings.HasPrefix(h, "$") {
		if i := strings.IndexByte(h[1:], '$'); i > 0 {
			kind = h[:i+2]
		}
	}
	return nil, fmt.Errorf("%w (%s); use $7$ (sol passwd, mosquitto_passwd) or crypt(3) $6$", ErrUnsupportedHash, kind)
}

func parsePBKDF2(h string) (*entry, error) {
	parts := strings.Split(h, "$") // "", "7", iterations, salt, hash
	if len(parts) != 5 {
		return nil, errors.New("malformed $7$ hash: want $7$iterations$salt$hash")
	}
	it, err := strconv.Atoi(parts[2])
	if err != nil || it < 1 || it > maxPBKDF2Iterations {
		return nil, fmt.Errorf("malformed $7$ hash: iteration count %q not in 1..%d", parts[2], maxPBKDF2Iterations)
	}
	salt, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(salt) == 0 {
		return nil, errors.New("malformed $7$ hash: salt is not base64")
	}
	sum, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(sum) != sha512Len {
		return nil, errors.New("malformed $7$ hash: digest is not 64 bytes of base64")
	}
	return &entry{kind: kindPBKDF2, iterations: it, salt: salt, sum: sum}, nil
}

// parseMosqSHA accepts only the exact shape mosquitto writes
// (src/security_default.c: salt decodes to 12 bytes, digest to 64).
func parseMosqSHA(h string) (*entry, bool) {
	parts := strings.Split(h, "$") // "", "6", salt, hash
	if len(parts) != 4 || len(parts[2]) != 16 || len(parts[3]) != 88 {
		return nil, false
	}
	salt, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(salt) != pbkdf2SaltLen {
		return nil, false
	}
	sum, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(sum) != sha512Len {
		return nil, false
	}
	return &entry{kind: kindMosqSHA, salt: salt, sum: sum}, true
}

// parseCrypt checks a crypt(3) string's shape: prefix, optional rounds=N$
// (SHA-crypt only), a salt of at most maxSalt characters and a digest of
// digestLen characters, all in crypt's alphabet.
func parseCrypt(h string, digestLen, maxSalt int, rounds bool) (*entry, error) {
	prefix := h[:strings.IndexByte(h[1:], '$')+2]
	rest := h[len(prefix):]
	if rounds && strings.HasPrefix(rest, "rounds=") {
		i := strings.IndexByte(rest, '$')
		if i < 0 {
			return nil, fmt.Errorf("malformed %s crypt hash: rounds without salt", prefix)
		}
		n, err := strconv.Atoi(rest[len("rounds="):i])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("malformed %s crypt hash: bad rounds", prefix)
		}
		rest = rest[i+1:]
	}
	salt, digest, ok := strings.Cut(rest, "$")
	if !ok || len(salt) > maxSalt || !isCryptAlphabet(salt) || len(digest) != digestLen || !isCryptAlphabet(digest) {
		return nil, fmt.Errorf("malformed %s hash: want crypt(3) salt$digest (or a mosquitto salted SHA-512)", prefix)
	}
	if !crypt.IsHashSupported(h) {
		return nil, fmt.Errorf("%w (%s)", ErrUnsupportedHash, prefix)
	}
	return &entry{kind: kindCrypt, encoded: h}, nil
}

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func isCryptAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(cryptAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// HashPBKDF2 returns password hashed the way mosquitto_passwd 2.0 does by
// default: `$7$101$<12-byte salt, base64>$<PBKDF2-HMAC-SHA512, 64 bytes,
// base64>`. Any goroutine may call it.
func HashPBKDF2(password string) string {
	return hashPBKDF2(password, PBKDF2Iterations)
}

func hashPBKDF2(password string, iterations int) string {
	salt := make([]byte, pbkdf2SaltLen)
	rand.Read(salt) // never fails (crypto/rand)
	sum, err := pbkdf2.Key(sha512.New, password, salt, iterations, sha512Len)
	if err != nil {
		// Only a bad key length or a FIPS-only refusal can fail; neither
		// applies to 64-byte SHA-512 keys.
		panic(fmt.Sprintf("auth: pbkdf2: %v", err))
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "$7$%d$%s$%s", iterations,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(sum))
	return b.String()
}

// HashSHA512Crypt returns password as a crypt(3) SHA-512 string
// (`$6$<16-char salt>$<86-char digest>`, 5000 rounds), the format the C sol's
// passwd.py wrote and glibc's crypt() reads. Any goroutine may call it.
func HashSHA512Crypt(password string) string {
	s, err := sha512_crypt.New().Generate([]byte(password), nil)
	if err != nil {
		// Generate fails only on a malformed caller-given salt; we pass none.
		panic(fmt.Sprintf("auth: sha512-crypt: %v", err))
	}
	return s
}
