package trie

import (
	"strings"
	"sync/atomic"
)

// sharePrefix starts a shared subscription's filter: $share/{group}/{filter}.
const sharePrefix = "$share/"

// splitShare splits "$share/{group}/{filter}" into group and filter. Anything
// else, including a malformed "$share/g" without a filter or with an empty
// group, is returned as an ordinary filter with group "" (the broker rejects
// those with the mqtt package's validation first [MQTT-4.8.2-1]).
func splitShare(filter string) (group, f string) {
	if !strings.HasPrefix(filter, sharePrefix) {
		return "", filter
	}
	rest := filter[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return "", filter
	}
	return rest[:i], rest[i+1:]
}

// group is one shared subscription: a share name on one filter and the
// subscribers that take turns receiving its messages.
type group[S comparable] struct {
	name    string // the share name
	filter  string // the whole "$share/name/filter" as subscribed
	members []entry[S]
	// cursor counts publishes that matched this group; the next choice starts
	// at cursor % len(members). Advanced atomically under the read lock.
	cursor atomic.Uint32
}

// addMember adds s to the group name under this filter, creating the group;
// it reports whether s was already a member (its options are then replaced).
// full is the whole "$share/..." filter.
func (l *leaf[S]) addMember(name, full string, s S, o SubOptions) (replaced bool) {
	g := l.group(name)
	if g == nil {
		g = &group[S]{name: strings.Clone(name), filter: strings.Clone(full)}
		l.groups = append(l.groups, g)
	}
	for i := range g.members {
		if g.members[i].sub == s {
			g.members[i].opts = o
			return true
		}
	}
	g.members = append(g.members, entry[S]{s, o})
	return false
}

// removeMember removes s from the group name; it reports whether s was a
// member. An empty group is dropped. Member order is kept so the round robin
// stays fair across removals.
func (l *leaf[S]) removeMember(name string, s S) bool {
	for gi, g := range l.groups {
		if g.name != name {
			continue
		}
		for i := range g.members {
			if g.members[i].sub != s {
				continue
			}
			last := len(g.members) - 1
			copy(g.members[i:], g.members[i+1:])
			g.members[last] = entry[S]{}
			g.members = g.members[:last]
			if len(g.members) == 0 {
				lastGroup := len(l.groups) - 1
				l.groups[gi] = l.groups[lastGroup]
				l.groups[lastGroup] = nil
				l.groups = l.groups[:lastGroup]
				if lastGroup == 0 {
					l.groups = nil
				}
			}
			return true
		}
		return false
	}
	return false
}

// group returns the group with this share name, or nil.
func (l *leaf[S]) group(name string) *group[S] {
	for _, g := range l.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// next advances the cursor and returns the position of the member whose turn
// it is.
func (g *group[S]) next() int {
	return int((g.cursor.Add(1) - 1) % uint32(len(g.members)))
}

// appendChosen appends the member whose turn it is (used when every member is
// available).
func (g *group[S]) appendChosen(dst []Match[S]) []Match[S] {
	e := &g.members[g.next()]
	return append(dst, Match[S]{Sub: e.sub, Opts: e.opts, Filter: g.filter, Group: g.name})
}

// appendCandidates appends every member in round-robin order, starting with
// the one whose turn it is, and marks the run's length on its first entry for
// pickMembers.
func (g *group[S]) appendCandidates(dst []Match[S]) []Match[S] {
	n := len(g.members)
	first := len(dst)
	for i, k := 0, g.next(); i < n; i++ {
		e := &g.members[k]
		dst = append(dst, Match[S]{Sub: e.sub, Opts: e.opts, Filter: g.filter, Group: g.name})
		if k++; k == n {
			k = 0
		}
	}
	dst[first].run = uint32(n)
	return dst
}

// pickMembers replaces each run of group candidates in dst[base:] by the first
// candidate avail accepts (or the first candidate if it accepts none) and
// compacts the slice. It runs with no lock held.
func pickMembers[S comparable](dst []Match[S], base int, avail func(S) bool) []Match[S] {
	w := base
	for r := base; r < len(dst); {
		n := int(dst[r].run)
		if n == 0 {
			dst[w] = dst[r]
			w++
			r++
			continue
		}
		pick := r
		for k := r; k < r+n; k++ {
			if avail(dst[k].Sub) {
				pick = k
				break
			}
		}
		dst[w] = dst[pick]
		dst[w].run = 0
		w++
		r += n
	}
	clear(dst[w:]) // drop references to the candidates not chosen
	return dst[:w]
}
