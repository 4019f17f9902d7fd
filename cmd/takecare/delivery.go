package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/api"
)

// sentJSON is one line of `takecare alert --json` and `takecare panic
// --json`: the group, the new message's id and its delivery.
type sentJSON struct {
	Group string `json:"group"`
	api.SentResponse
}

// printSent says what became of an alert or panic just sent: on stderr,
// for people, what was done with it; on stdout, its id alone on the last
// line, or with asJSON one JSON object.
func printSent(e *env, what, group string, r api.SentResponse, asJSON bool) error {
	if asJSON {
		return printJSONLines(e.stdout, []sentJSON{{Group: group, SentResponse: r}})
	}
	deliverySummary(e.stderr, what, group, r.Delivery)
	fmt.Fprintln(e.stdout, r.ID)
	return nil
}

// deliverySummary writes, for people, where a message just sent went:
// handed to which member nodes, or queued until one is reachable, and
// whether it is saved on this device.
func deliverySummary(w io.Writer, what, group string, d *node.Delivery) {
	switch {
	case d == nil:
		fmt.Fprintf(w, "%s sent to %s\n", what, group)
		return
	case d.Tracked && d.Members == 0:
		fmt.Fprintf(w, "%s NOT SENT to anyone in %s: nobody else is in the group, so nobody can receive it (someone who joins later does not read it). Invite someone first.\n", what, group)
		return
	case len(d.HandedTo) == 0:
		fmt.Fprintf(w, "%s QUEUED for %s: no member is reachable now; it will go out when a member is reachable.\n", what, group)
	default:
		var names []string
		for _, h := range d.HandedTo {
			names = append(names, h.Name)
		}
		fmt.Fprintf(w, "%s sent to %s: handed to %d of %s now (%s).\n",
			what, group, len(d.HandedTo), count(d.Members, "member node", "member nodes"), strings.Join(names, ", "))
	}
	if d.Stored {
		fmt.Fprintln(w, "Saved on this device.")
	} else {
		fmt.Fprintln(w, "NOT saved on this device: its storage is full. It is kept in memory until there is room, and lost from this device if the node stops first.")
	}
	if len(d.Acks) > 0 {
		var acks []string
		for _, a := range d.Acks {
			acks = append(acks, a.Author+" ("+a.Status+")")
		}
		fmt.Fprintf(w, "Acknowledged by %s.\n", strings.Join(acks, ", "))
	}
}
