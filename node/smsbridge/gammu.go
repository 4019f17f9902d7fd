package smsbridge

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Gammu is a [Backend] on gammu-smsd's files service
// (gammu-smsd-files(7)), which drives a USB modem or phone: it writes each
// received SMS as a file IN<date>_<time>_<serial>_<sender>_<part>.txt in
// its inbox folder, and sends each file OUT<priority>_<number>_<serial>.txt
// it finds in its outbox folder. gammu-smsd must run with
// "InboxFormat = unicode" and "OutboxFormat = unicode" (UTF-16 files; the
// reader also takes UTF-8), and the two folders must be the ones given
// here (docs/GUIDE.md, "SMS bridge").
//
// The bridge deletes each received file once it is handled: SMS are plain
// text on disk until then.
type Gammu struct {
	Inbox  string
	Outbox string
	// Poll is how often the inbox is read (default 500 ms).
	Poll time.Duration
	// Location is the zone of the times in file names (default
	// time.Local, as gammu-smsd writes them).
	Location *time.Location

	seq atomic.Uint64
}

var _ Backend = (*Gammu)(nil)

// Send writes an SMS to the outbox, atomically (gammu-smsd never reads a
// half-written file).
func (g *Gammu) Send(ctx context.Context, number, text string) error {
	num, err := NormalizeNumber(number)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("OUTA_%s_%d%03d.txt", num, time.Now().UnixNano(), g.seq.Add(1)%1000)
	tmp := filepath.Join(g.Outbox, ".takecare-"+name)
	if err := os.WriteFile(tmp, encodeUTF16(text), 0o640); err != nil {
		return fmt.Errorf("smsbridge: writing to the gammu outbox: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(g.Outbox, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("smsbridge: writing to the gammu outbox: %w", err)
	}
	return nil
}

// Receive reads the inbox every Poll until ctx ends.
func (g *Gammu) Receive(ctx context.Context, fn func(Incoming)) error {
	poll := g.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	if _, err := os.Stat(g.Inbox); err != nil {
		return fmt.Errorf("smsbridge: the gammu inbox: %w", err)
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		g.drain(fn)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// drain handles every SMS file in the inbox, oldest name first.
func (g *Gammu) drain(fn func(Incoming)) {
	ents, err := os.ReadDir(g.Inbox)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), "IN") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join(g.Inbox, name)
		in, ok := g.parseName(name)
		if ok {
			raw, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			in.Text = decodeText(raw)
			fn(in)
		}
		// Handled, or not an SMS the bridge reads (8-bit, backup
		// format): not left in plain text.
		os.Remove(path)
	}
}

// parseName reads IN<YYYYMMDD>_<HHMMSS>_<serial>_<sender>_<part>.txt.
func (g *Gammu) parseName(name string) (Incoming, bool) {
	base, ok := strings.CutSuffix(name, ".txt")
	if !ok {
		return Incoming{}, false
	}
	f := strings.Split(strings.TrimPrefix(base, "IN"), "_")
	if len(f) < 5 {
		return Incoming{}, false
	}
	loc := g.Location
	if loc == nil {
		loc = time.Local
	}
	sent, _ := time.ParseInLocation("20060102150405", f[0]+f[1], loc)
	// The sender may itself hold "_" (alphanumeric senders): all between
	// the serial and the part.
	return Incoming{From: strings.Join(f[3:len(f)-1], "_"), Sent: sent, Key: name}, true
}

// decodeText reads UTF-16 with a byte order mark (gammu-smsd's "unicode"
// format), or UTF-8.
func decodeText(b []byte) string {
	var order binary.ByteOrder
	switch {
	case len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF:
		order = binary.BigEndian
	case len(b) >= 2 && b[0] == 0xFF && b[1] == 0xFE:
		order = binary.LittleEndian
	default:
		if utf8.Valid(b) {
			return string(b)
		}
		return strings.ToValidUTF8(string(b), "?")
	}
	b = b[2:]
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = order.Uint16(b[2*i:])
	}
	// gammu-smsd ends its UTF-16 files with a NUL.
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}

// encodeUTF16 writes text as UTF-16 big-endian with a byte order mark.
func encodeUTF16(text string) []byte {
	u := utf16.Encode([]rune(text))
	b := make([]byte, 2, 2+2*len(u))
	b[0], b[1] = 0xFE, 0xFF
	for _, c := range u {
		b = binary.BigEndian.AppendUint16(b, c)
	}
	return b
}
