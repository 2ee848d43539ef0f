package auth

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Access rights a rule grants, as in Mosquitto (MOSQ_ACL_READ, MOSQ_ACL_WRITE).
const (
	accessRead  = 1 << iota // receive messages on the topic
	accessWrite             // publish to the topic
)

// levelKind is what one level of an ACL topic filter matches.
type levelKind uint8

const (
	levelLiteral  levelKind = iota // exactly its text
	levelPlus                      // '+': any one level
	levelHash                      // '#': any number of remaining levels, including none
	levelClientID                  // "%c" in a pattern: the client identifier
	levelUsername                  // "%u" in a pattern: the username
	levelPieces                    // text with %c or %u inside ("dev-%c"): pieces
)

type level struct {
	kind   levelKind
	text   string  // for levelLiteral
	pieces []piece // for levelPieces
}

// piece is part of a pattern level: literal text, or a substitution.
type piece struct {
	kind levelKind // levelLiteral, levelClientID or levelUsername
	text string
}

// rule is one `topic` or `pattern` line.
type rule struct {
	levels   []level
	access   uint8 // accessRead|accessWrite; 0 for deny
	deny     bool
	username bool // has a %u level: skipped for anonymous clients
}

// ACL is an immutable, loaded Mosquitto ACL file. It is safe for concurrent
// use by any number of goroutines.
//
// Semantics follow Mosquitto 2.0's default ACL check
// (src/security_default.c, mosquitto_acl_check_default):
//   - A client's own rules are the `topic` lines after `user <its username>`
//     (all such sections merged), or, for a client without a username, the
//     `topic` lines before the first `user` line. A client whose username has
//     no section has no own rules.
//   - `pattern` lines apply to every client, wherever they appear in the file.
//     `%c` and `%u` stand for the client identifier and username, whole
//     levels ("a/%c/b") or inside one ("a/dev-%c/b"), as Mosquitto 2.0
//     substitutes them (the manual asks for whole levels; 2.0.11 accepts
//     both, and TestMosquittoInterop holds us to what it does). Patterns
//     with `%u` are skipped for clients without a username. If the username or client identifier contains '+' or '#'
//     the client gets nothing from patterns (Mosquitto denies it outright at
//     that point); one containing '/' can never equal a level, so it never
//     matches a %c or %u level either.
//   - Own rules are checked before patterns; within each list `deny` rules
//     are checked first, and the first match decides. No match is a denial.
//   - Topics beginning with '$' are matched by rules beginning with '$' only
//     (the MQTT rule for wildcards at the first level).
//
// SUBSCRIBE is where sol differs: Mosquitto 2.0's file ACL accepts every
// subscription ("FIXME - implement ACL subscription strings") and filters at
// delivery. sol keeps the delivery filter (CanRead) and also refuses, with
// SUBACK 0x87, a filter that could never deliver anything: see CanSubscribe.
type ACL struct {
	anonymous []rule
	users     map[string][]rule
	patterns  []rule
}

// LoadACL reads a Mosquitto ACL file. Lines are `user <name>`,
// `topic [read|write|readwrite|deny] <filter>` and
// `pattern [read|write|readwrite|deny] <filter>`; the access word defaults to
// readwrite and is required when the filter contains a space. Blank lines and
// lines starting with '#' are ignored. The first bad line fails the load with
// an error naming the file and the line. Any goroutine may call it.
func LoadACL(path string) (*ACL, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("acl file: %w", err)
	}
	defer f.Close()
	return ParseACL(f, path)
}

// ParseACL is LoadACL over a reader; name is used in errors.
func ParseACL(r io.Reader, name string) (*ACL, error) {
	a := &ACL{users: make(map[string][]rule)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLineLen)
	n := 0
	user, inUser := "", false
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		keyword, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch keyword {
		case "user":
			if rest == "" {
				return nil, fmt.Errorf("acl file %s line %d: missing username", name, n)
			}
			user, inUser = rest, true
		case "topic", "pattern":
			r, err := parseRule(rest, keyword == "pattern")
			if err != nil {
				return nil, fmt.Errorf("acl file %s line %d: %w", name, n, err)
			}
			switch {
			case keyword == "pattern":
				a.patterns = appendRule(a.patterns, r)
			case inUser:
				a.users[user] = appendRule(a.users[user], r)
			default:
				a.anonymous = appendRule(a.anonymous, r)
			}
		default:
			return nil, fmt.Errorf("acl file %s line %d: unknown keyword %q (want user, topic or pattern)", name, n, keyword)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("acl file %s after line %d: %w", name, n, err)
	}
	return a, nil
}

// appendRule keeps deny rules ahead of the others, each group in file order,
// as Mosquitto's add__acl does.
func appendRule(rules []rule, r rule) []rule {
	if !r.deny {
		return append(rules, r)
	}
	i := 0
	for i < len(rules) && rules[i].deny {
		i++
	}
	rules = append(rules, rule{})
	copy(rules[i+1:], rules[i:])
	rules[i] = r
	return rules
}

// parseRule parses what follows `topic` or `pattern`.
func parseRule(s string, pattern bool) (rule, error) {
	var r rule
	word, filter, hasFilter := strings.Cut(s, " ")
	if word == "" {
		return r, fmt.Errorf("empty topic")
	}
	if !hasFilter {
		filter, word = word, ""
	}
	filter = strings.TrimSpace(filter)
	switch word {
	case "":
		r.access = accessRead | accessWrite
	case "read":
		r.access = accessRead
	case "write":
		r.access = accessWrite
	case "readwrite":
		r.access = accessRead | accessWrite
	case "deny":
		r.deny = true
	default:
		return r, fmt.Errorf("invalid access %q (want read, write, readwrite or deny)", word)
	}
	if filter == "" {
		return r, fmt.Errorf("empty topic")
	}
	levels := strings.Split(filter, "/")
	r.levels = make([]level, len(levels))
	for i, l := range levels {
		switch {
		case l == "#":
			if i != len(levels)-1 {
				return r, fmt.Errorf("invalid topic filter %q: '#' must be the last level", filter)
			}
			r.levels[i] = level{kind: levelHash}
		case l == "+":
			r.levels[i] = level{kind: levelPlus}
		case strings.ContainsAny(l, "+#"):
			return r, fmt.Errorf("invalid topic filter %q: '+' and '#' must fill a whole level", filter)
		case pattern && l == "%c":
			r.levels[i] = level{kind: levelClientID}
		case pattern && l == "%u":
			r.levels[i] = level{kind: levelUsername}
			r.username = true
		case pattern && (strings.Contains(l, "%c") || strings.Contains(l, "%u")):
			r.levels[i] = level{kind: levelPieces, pieces: splitPieces(l)}
			if strings.Contains(l, "%u") {
				r.username = true
			}
		default:
			r.levels[i] = level{kind: levelLiteral, text: l}
		}
	}
	return r, nil
}

// splitPieces cuts a pattern level at each %c and %u.
func splitPieces(l string) []piece {
	var ps []piece
	start := 0
	for i := 0; i+1 < len(l); i++ {
		if l[i] != '%' || (l[i+1] != 'c' && l[i+1] != 'u') {
			continue
		}
		if i > start {
			ps = append(ps, piece{kind: levelLiteral, text: l[start:i]})
		}
		if l[i+1] == 'c' {
			ps = append(ps, piece{kind: levelClientID})
		} else {
			ps = append(ps, piece{kind: levelUsername})
		}
		i++
		start = i + 1
	}
	if start < len(l) {
		ps = append(ps, piece{kind: levelLiteral, text: l[start:]})
	}
	return ps
}

// CanPublish reports whether the client may publish to topic (a topic name,
// no wildcards). username "" means the client sent no username. It does not
// keep topic. Safe for concurrent use; does not allocate.
func (a *ACL) CanPublish(clientID, username string, topic []byte) bool {
	return a.check(clientID, username, topic, accessWrite)
}

// CanRead reports whether a message published on topic may be delivered to
// the client. It runs once per delivery, so it never allocates (pinned by a
// test) and does not keep topic. Safe for concurrent use.
func (a *ACL) CanRead(clientID, username string, topic []byte) bool {
	return a.check(clientID, username, topic, accessRead)
}

// CanSubscribe reports whether the client may subscribe to filter (a valid
// MQTT topic filter, possibly with wildcards; a `$share/group/` prefix must be
// stripped by the caller). Mosquitto 2.0 accepts every subscription and
// relies on the per-message read check; sol refuses a filter only when no
// message could ever be delivered through it:
//   - a read-granting rule whose filter overlaps the subscription (some topic
//     matches both) admits it, even if it covers only part of it (for example
//     "#" with `topic read sensors/#`); CanRead then filters each message;
//   - a deny rule that covers the whole subscription (every topic matching the
//     filter matches the rule) refuses it.
//
// Rules are consulted in CanRead's order, first decision wins. Safe for
// concurrent use; does not allocate; does not keep filter.
func (a *ACL) CanSubscribe(clientID, username string, filter []byte) bool {
	own := a.ownRules(username)
	for i := range own {
		if ok, decided := subscribeRule(&own[i], clientID, username, filter); decided {
			return ok
		}
	}
	if !patternsApply(clientID, username) {
		return false
	}
	for i := range a.patterns {
		r := &a.patterns[i]
		if r.username && username == "" {
			continue
		}
		if ok, decided := subscribeRule(r, clientID, username, filter); decided {
			return ok
		}
	}
	return false
}

func subscribeRule(r *rule, clientID, username string, filter []byte) (ok, decided bool) {
	if r.deny {
		if covers(r, clientID, username, filter) {
			return false, true
		}
		return false, false
	}
	if r.access&accessRead != 0 && overlaps(r, clientID, username, filter) {
		return true, true
	}
	return false, false
}

func (a *ACL) ownRules(username string) []rule {
	if username == "" {
		return a.anonymous
	}
	return a.users[username] // a map lookup with a string key: no allocation
}

// patternsApply is Mosquitto's guard against identities that would act as
// wildcards once substituted.
func patternsApply(clientID, username string) bool {
	return !strings.ContainsAny(username, "+#") && !strings.ContainsAny(clientID, "+#")
}

func (a *ACL) check(clientID, username string, topic []byte, want uint8) bool {
	own := a.ownRules(username)
	for i := range own {
		r := &own[i]
		if matches(r, clientID, username, topic) {
			if r.deny {
				return false
			}
			if r.access&want != 0 {
				return true
			}
		}
	}
	if len(a.patterns) == 0 || !patternsApply(clientID, username) {
		return false
	}
	for i := range a.patterns {
		r := &a.patterns[i]
		if r.username && username == "" {
			continue
		}
		if matches(r, clientID, username, topic) {
			if r.deny {
				return false
			}
			if r.access&want != 0 {
				return true
			}
		}
	}
	return false
}

func substitute(kind levelKind, text, clientID, username string) string {
	switch kind {
	case levelClientID:
		return clientID
	case levelUsername:
		return username
	}
	return text
}

// equal reports whether the topic level lvl is what the non-wildcard level l
// stands for, after substitution. It does not allocate.
func (l *level) equal(lvl []byte, clientID, username string) bool {
	if l.kind != levelPieces {
		return string(lvl) == substitute(l.kind, l.text, clientID, username)
	}
	for i := range l.pieces {
		p := &l.pieces[i]
		s := substitute(p.kind, p.text, clientID, username)
		if len(lvl) < len(s) || string(lvl[:len(s)]) != s {
			return false
		}
		lvl = lvl[len(s):]
	}
	return len(lvl) == 0
}

// dollar reports whether the non-wildcard level l begins with '$'.
func (l *level) dollar(clientID, username string) bool {
	if l.kind == levelPieces {
		for i := range l.pieces {
			p := &l.pieces[i]
			if s := substitute(p.kind, p.text, clientID, username); s != "" {
				return s[0] == '$'
			}
		}
		return false
	}
	s := substitute(l.kind, l.text, clientID, username)
	return s != "" && s[0] == '$'
}

func (l *level) wildcard() bool { return l.kind == levelPlus || l.kind == levelHash }

// matches reports whether topic (a topic name) matches the rule's filter.
func matches(r *rule, clientID, username string, topic []byte) bool {
	if len(topic) > 0 && topic[0] == '$' && len(r.levels) > 0 && r.levels[0].wildcard() {
		return false // [MQTT-4.7.2-1]
	}
	rest := topic
	for i := range r.levels {
		l := &r.levels[i]
		if l.kind == levelHash {
			return true
		}
		if rest == nil {
			return false // topic has fewer levels than the filter
		}
		var lvl []byte
		if j := indexSlash(rest); j >= 0 {
			lvl, rest = rest[:j], rest[j+1:]
		} else {
			lvl, rest = rest, nil
		}
		if l.kind == levelPlus {
			continue
		}
		if !l.equal(lvl, clientID, username) {
			return false
		}
	}
	return rest == nil
}

// nextLevel splits the first level off a filter; rest is nil after the last.
func nextLevel(f []byte) (lvl, rest []byte) {
	if j := indexSlash(f); j >= 0 {
		return f[:j], f[j+1:]
	}
	return f, nil
}

func indexSlash(b []byte) int {
	for i, c := range b {
		if c == '/' {
			return i
		}
	}
	return -1
}

func isWild(lvl []byte) bool { return len(lvl) == 1 && (lvl[0] == '+' || lvl[0] == '#') }

// overlaps reports whether some topic name matches both the rule's filter
// and filter.
func overlaps(r *rule, clientID, username string, filter []byte) bool {
	if len(filter) == 0 || len(r.levels) == 0 {
		return false
	}
	first, _ := nextLevel(filter)
	// Topics starting with '$' match only filters whose first level is a
	// literal, so a literal '$' level on one side and a wildcard on the other
	// share nothing.
	if r.levels[0].wildcard() && len(first) > 0 && first[0] == '$' {
		return false
	}
	if isWild(first) && !r.levels[0].wildcard() && r.levels[0].dollar(clientID, username) {
		return false
	}
	rest := filter
	for i := range r.levels {
		l := &r.levels[i]
		if l.kind == levelHash {
			return true
		}
		if rest == nil {
			return false
		}
		var lvl []byte
		lvl, rest = nextLevel(rest)
		if len(lvl) == 1 && lvl[0] == '#' {
			return true
		}
		if l.kind == levelPlus || (len(lvl) == 1 && lvl[0] == '+') {
			continue
		}
		if !l.equal(lvl, clientID, username) {
			return false
		}
	}
	if rest == nil {
		return true
	}
	// The rule ended; the filter may only go on with a final "#", which
	// matches the parent level too ("a/#" matches "a").
	lvl, more := nextLevel(rest)
	return more == nil && len(lvl) == 1 && lvl[0] == '#'
}

// covers reports whether every topic name matching filter also matches the
// rule's filter.
func covers(r *rule, clientID, username string, filter []byte) bool {
	if len(filter) == 0 || len(r.levels) == 0 {
		return false
	}
	first, _ := nextLevel(filter)
	if r.levels[0].wildcard() && len(first) > 0 && first[0] == '$' {
		return false // the filter's '$' topics are outside a wildcard-first rule
	}
	rest := filter
	for i := range r.levels {
		l := &r.levels[i]
		if l.kind == levelHash {
			return true
		}
		if rest == nil {
			return false
		}
		var lvl []byte
		lvl, rest = nextLevel(rest)
		switch {
		case len(lvl) == 1 && lvl[0] == '#':
			return false // only a '#' rule level covers '#'
		case l.kind == levelPlus:
			continue
		case len(lvl) == 1 && lvl[0] == '+':
			return false // a literal rule level does not cover '+'
		case !l.equal(lvl, clientID, username):
			return false
		}
	}
	return rest == nil
}
