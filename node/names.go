package node

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// How members are shown, so that nobody can pass for somebody else by
// name.
//
// Display names are not unique: anyone can choose any name, and the
// validation only keeps out invisible characters (alert.ValidName). So
// every view that shows a member says whether the member is an admin and
// whether this member verified them in person (their safety number), and
// whenever a member's name can be confused with another's in the same
// group, the label adds the first 12 hex digits of the member id:
// "Ana (3f2a9c01b7e4)". Two names can be confused when, after the RFC 8266
// (PRECIS Nickname) comparison mapping (NFKC, case folded, spaces
// collapsed and trimmed), or after NFKC alone, they have the same UTS #39
// confusable skeleton ("Ana" and "ana", "Ana" with a Cyrillic "А",
// "rn" and "m"). Every member the roster ever introduced counts, removed
// ones included, since their old messages stay in the feed. This is what
// Matrix clients do for colliding display names, with UTS #39 skeletons for
// look-alikes.

// Who is how a view shows a member.
type Who struct {
	// Label is the display name, followed by the short member id when
	// another member's name can be taken for it.
	Label string
	// Admin and Verified are the marks: an admin of the group, a member
	// whose safety number this member compared.
	Admin    bool
	Verified bool
}

// nameIndex knows which members of one roster have confusable names.
type nameIndex struct {
	heads   string // the roster heads it was computed for
	clashes map[crypto.MemberID]bool
	// keys holds each member's name and its skeletons, so that the next
	// index computes them only for members added or renamed since: in a
	// group of a thousand, every join would otherwise fold a thousand
	// names again.
	keys map[crypto.MemberID]nameKeys
}

type nameKeys struct {
	name string
	keys [2]string
}

// confusableKeys returns the skeletons under which name can be confused.
func confusableKeys(name string) [2]string {
	folded, err := precis.Nickname.CompareKey(name)
	if err != nil {
		folded = strings.ToLower(norm.NFKC.String(name))
	}
	return [2]string{confusables.Skeleton(folded), confusables.Skeleton(norm.NFKC.String(name))}
}

// NamesConfusable reports whether two display names can be taken for each
// other (see [Who]).
func NamesConfusable(a, b string) bool {
	ka, kb := confusableKeys(a), confusableKeys(b)
	return ka[0] == kb[0] || ka[1] == kb[1]
}

// clashes returns the members of g whose names can be confused with
// another member's, computed once per roster state.
func (g *group) clashes() map[crypto.MemberID]bool {
	heads := ""
	for _, h := range g.roster.Heads() {
		heads += string(h[:])
	}
	last := g.names.Load()
	if last != nil && last.heads == heads {
		return last.clashes
	}
	members := append(g.roster.Members(), g.roster.RemovedMembers()...)
	ix := &nameIndex{heads: heads, clashes: make(map[crypto.MemberID]bool), keys: make(map[crypto.MemberID]nameKeys, len(members))}
	byKey := make(map[string][]crypto.MemberID)
	for _, m := range members {
		nk, ok := nameKeys{}, false
		if last != nil {
			nk, ok = last.keys[m.ID()]
		}
		if !ok || nk.name != m.Name {
			nk = nameKeys{name: m.Name, keys: confusableKeys(m.Name)}
		}
		ix.keys[m.ID()] = nk
		for i, k := range nk.keys {
			key := string(rune('0'+i)) + k
			byKey[key] = append(byKey[key], m.ID())
		}
	}
	for _, ids := range byKey {
		if len(ids) > 1 {
			for _, id := range ids {
				ix.clashes[id] = true
			}
		}
	}
	g.names.Store(ix)
	return ix.clashes
}

// who returns how member id is shown in group g. An id the roster does not
// know is shown as its short form.
func (n *Node) who(g *group, id crypto.MemberID) Who {
	m, ok := g.roster.Member(id)
	if !ok {
		return Who{Label: id.Short()}
	}
	w := Who{Label: m.Name, Admin: m.Role == alert.RoleAdmin && !m.Removed, Verified: n.isVerified(id)}
	if g.clashes()[id] {
		w.Label += " (" + id.Short() + ")"
	}
	return w
}

// maxRefusal bounds the reason a node gives for refusing a join, as shown.
const maxRefusal = 200

// remoteText makes a string that another node chose, and that no
// validation covered, fit to show: control and invisible characters
// (alert.Invisible) become U+FFFD, invalid UTF-8 too, and it is cut to at
// most max bytes.
func remoteText(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsControl(r) || alert.Invisible(r) {
			r = '\uFFFD'
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
