package node

import (
	"fmt"
	"strings"

	"golang.org/x/text/secure/precis"
)

// References: how a person names a group, a member, an invite, a check-in
// or a message on the command line, in the web UI or by SMS. Every kind
// is resolved by [resolver.one], so the rules and the wording of errors
// are the same everywhere:
//
//   - A group or a member may be named by its name, compared as RFC 8266
//     (PRECIS Nickname) compares nicknames: case folded, NFKC, spaces
//     collapsed and trimmed ("ana", "Ana" and " ANA " are one name).
//   - Anything may be named by a prefix of its id in hexadecimal, of at
//     least minRefPrefix digits ([MinIDPrefix] for messages and
//     check-ins), when no name matches.
//   - Nothing named is an error wrapping the kind's sentinel
//     ([ErrNoSuchGroup], [ErrNoSuchMember], ...), with the parameter "ref"
//     (and "group" when the search was in one group).
//   - A reference that names several is an error wrapping [ErrAmbiguous]
//     that lists them, with the parameters "what", "ref" and "candidates".

// MinIDPrefix is the fewest hex digits of a message id that commands accept.
const MinIDPrefix = 6

// minRefPrefix is the fewest hex digits of a group, member or invite id
// that name it.
const minRefPrefix = 4

// resolver resolves references to one kind of thing, of type T.
type resolver[T any] struct {
	what      string // the parameter "what" of an ambiguity: group, member, invite, checkin, message
	word      string // the kind in English sentences
	notFound  error  // the sentinel when nothing matches
	minPrefix int
	name      func(T) string // nil: things of this kind have no name
	id        func(T) string // the full id, lower-case hex
	label     func(T) string // how a candidate is listed
}

// match returns the items that ref names: by name if any matches, else by
// id prefix. byName says which.
func (r resolver[T]) match(items []T, ref string) (matches []T, byName bool) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, false
	}
	if r.name != nil {
		key := nameKey(ref)
		for _, it := range items {
			if nameKey(r.name(it)) == key {
				matches = append(matches, it)
			}
		}
		if len(matches) > 0 {
			return matches, true
		}
	}
	prefix := strings.ToLower(ref)
	if len(prefix) < r.minPrefix {
		return nil, false
	}
	for _, it := range items {
		if strings.HasPrefix(r.id(it), prefix) {
			matches = append(matches, it)
		}
	}
	return matches, false
}

// one returns the item that ref names. in, if not empty, names where the
// search looked (a group's name), for the error.
func (r resolver[T]) one(items []T, ref, in string) (T, error) {
	matches, byName := r.match(items, ref)
	return r.pick(matches, byName, ref, in)
}

// pick returns the one match, or the error for none or several.
func (r resolver[T]) pick(matches []T, byName bool, ref, in string) (T, error) {
	var zero T
	ref = strings.TrimSpace(ref)
	switch len(matches) {
	case 0:
		what := fmt.Sprintf("%v %q", r.notFound, ref)
		if r.name == nil {
			what = fmt.Sprintf("%v with an id starting %s", r.notFound, ref)
		}
		if in != "" {
			return zero, withParams(r.notFound, []string{"ref", ref, "group", in}, "%s in %s", what, in)
		}
		return zero, withParams(r.notFound, []string{"ref", ref}, "%s", what)
	case 1:
		return matches[0], nil
	}
	labels := make([]string, len(matches))
	for i, m := range matches {
		labels[i] = r.label(m)
	}
	return zero, r.ambiguous(ref, byName, labels)
}

// ambiguous is the error for a reference that names every one of labels.
func (r resolver[T]) ambiguous(ref string, byName bool, labels []string) error {
	hint := "give more of the id"
	if byName {
		hint = "give a prefix of the id instead"
	}
	return withParams(ErrAmbiguous, []string{"what", r.what, "ref", ref, "candidates", paramList(labels)},
		"%s %q is %v: %s; %s", r.word, ref, ErrAmbiguous, paramList(labels), hint)
}

// NamesMatch reports whether a and b are the same name as references
// compare names (RFC 8266, PRECIS Nickname: case folded, NFKC, spaces
// collapsed and trimmed).
func NamesMatch(a, b string) bool { return nameKey(a) == nameKey(b) }

// nameKey is the form in which names are compared (RFC 8266, section
// 2.4), or the name lower-cased if it is not a valid nickname.
func nameKey(s string) string {
	if k, err := precis.Nickname.CompareKey(s); err == nil {
		return k
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// checkIDRef checks that ref can be a prefix of a message or check-in id.
func checkIDRef(ref string) error {
	if len(ref) < MinIDPrefix {
		return fmt.Errorf("%w %q: give at least %d characters of it", ErrBadMessageID, ref, MinIDPrefix)
	}
	if len(ref) > 64 {
		return fmt.Errorf("%w: longer than 64 characters", ErrBadMessageID)
	}
	if strings.Trim(ref, "0123456789abcdef") != "" {
		return fmt.Errorf("%w %q: ids are hexadecimal (0-9, a-f)", ErrBadMessageID, ref)
	}
	return nil
}
