package config

import (
	"strconv"
	"strings"
)

// keyLines maps dotted key paths to the line that sets them, so that errors
// found after decoding (unknown keys, bad combinations) can name a line:
// BurntSushi/toml's MetaData carries no positions. Keys inside the i-th
// [[table]] are recorded both as "table.i.key" and, for the first occurrence,
// as "table.key" (the form MetaData.Undecoded uses). Table headers are recorded
// too, so a missing key falls back to the line of its table.
type keyLines map[string]int

func locateKeys(text string) keyLines {
	loc := keyLines{}
	counts := map[string]int{}
	prefix, plain := "", ""
	set := func(k string, line int) {
		if _, ok := loc[k]; !ok {
			loc[k] = line
		}
	}
	for i, raw := range strings.Split(text, "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line[0] == '#':
		case strings.HasPrefix(line, "[["):
			name := cleanKey(strings.TrimSuffix(strings.SplitN(line[2:], "]]", 2)[0], "]]"))
			idx := counts[name]
			counts[name]++
			prefix = name + "." + strconv.Itoa(idx) + "."
			plain = name + "."
			set(strings.TrimSuffix(prefix, "."), n)
			set(name, n)
		case line[0] == '[':
			name := cleanKey(strings.SplitN(line[1:], "]", 2)[0])
			prefix, plain = name+".", name+"."
			set(name, n)
		default:
			eq := strings.IndexByte(line, '=')
			if eq <= 0 {
				continue
			}
			k := cleanKey(line[:eq])
			set(prefix+k, n)
			set(plain+k, n)
		}
	}
	return loc
}

// cleanKey normalises a TOML key as written (spaces around dots, quotes).
func cleanKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// line returns the line of key, or of its nearest enclosing table, or 0.
func (l keyLines) line(key string) int {
	for k := key; k != ""; {
		if n, ok := l[k]; ok {
			return n
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}
