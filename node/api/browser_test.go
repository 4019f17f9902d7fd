package api_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// This file drives a real headless Chromium through the web UI, talking
// the Chrome DevTools Protocol over the pipe that --remote-debugging-pipe
// opens (file descriptors 3 and 4, one JSON message per NUL-terminated
// record), so that it needs no library. It is skipped when no Chromium is
// installed (Debian: apt-get install chromium) and with -short. Set
// TAKECARE_UI_SCREENSHOTS to a folder to keep screenshots of each step.

// esAt matches, in a page's JavaScript regular expression, a time of day
// as the Spanish pages say it: "a la 01:23" in the hour of one, "a las
// 14:05" in every other. A test that took only the plural failed between
// 01:00 and 01:59.
const esAt = `(?:a la 01|a las (?!01)\d\d):\d\d`

func findChromium() string {
	if p := os.Getenv("TAKECARE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium with one page.
type browser struct {
	t       *testing.T
	w       *os.File
	mu      sync.Mutex
	next    int
	pending map[int]chan cdpMsg
	session string
	errs    []string // console errors, exceptions, CSP violations
	shots   string
	shotN   int
}

type cdpMsg struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startBrowser starts a browser whose language is lang (like "en-US").
func startBrowser(t *testing.T, lang string) *browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped with -short")
	}
	path := findChromium()
	if path == "" {
		t.Skip("no Chromium installed (apt-get install chromium); browser test skipped")
	}
	toBrowser, ourEnd, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	fromBrowser, theirEnd, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-default-apps", "--mute-audio", "--lang="+lang,
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toBrowser, theirEnd}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start %s: %v", path, err)
	}
	toBrowser.Close()
	theirEnd.Close()
	b := &browser{t: t, w: ourEnd, pending: map[int]chan cdpMsg{}, shots: os.Getenv("TAKECARE_UI_SCREENSHOTS")}
	done := make(chan struct{})
	go b.read(fromBrowser, done)
	t.Cleanup(func() {
		b.call("Browser.close", nil)
		ourEnd.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		fromBrowser.Close()
		<-done
	})
	var target struct{ TargetID string }
	b.decode(b.call("Target.createTarget", map[string]any{"url": "about:blank"}), &target)
	var att struct{ SessionID string }
	b.decode(b.call("Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}), &att)
	b.session = att.SessionID
	for _, m := range []string{"Runtime.enable", "Log.enable", "Page.enable"} {
		b.call(m, nil)
	}
	// The browser's language, as navigator.languages reports it (headless
	// Chromium does not take it from --lang).
	var ver struct{ UserAgent string }
	b.decode(b.call("Browser.getVersion", nil), &ver)
	b.call("Emulation.setUserAgentOverride", map[string]any{"userAgent": ver.UserAgent, "acceptLanguage": lang})
	// A small phone's screen.
	b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true})
	return b
}

func (b *browser) read(r *os.File, done chan struct{}) {
	defer close(done)
	br := bufio.NewReader(r)
	for {
		rec, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			for id, c := range b.pending {
				close(c)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMsg
		if json.Unmarshal(rec[:len(rec)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if c, ok := b.pending[m.ID]; ok {
				c <- m
				delete(b.pending, m.ID)
			}
		} else {
			b.event(m)
		}
		b.mu.Unlock()
	}
}

// event records what a user would see go wrong in the developer console.
func (b *browser) event(m cdpMsg) {
	switch m.Method {
	case "Runtime.exceptionThrown":
		b.errs = append(b.errs, "exception: "+string(m.Params))
	case "Runtime.consoleAPICalled":
		var p struct{ Type string }
		json.Unmarshal(m.Params, &p)
		if p.Type == "error" || p.Type == "warning" {
			b.errs = append(b.errs, "console: "+string(m.Params))
		}
	case "Log.entryAdded":
		var p struct {
			Entry struct{ Level, Source, Text string }
		}
		json.Unmarshal(m.Params, &p)
		if p.Entry.Level == "error" || p.Entry.Source == "security" {
			b.errs = append(b.errs, p.Entry.Source+": "+p.Entry.Text)
		}
	}
}

func (b *browser) call(method string, params any) json.RawMessage {
	b.t.Helper()
	b.mu.Lock()
	b.next++
	id := b.next
	c := make(chan cdpMsg, 1)
	b.pending[id] = c
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if b.session != "" && !strings.HasPrefix(method, "Target.") && !strings.HasPrefix(method, "Browser.") {
		msg["sessionId"] = b.session
	}
	rec, _ := json.Marshal(msg)
	_, err := b.w.Write(append(rec, 0))
	b.mu.Unlock()
	if err != nil {
		if method == "Browser.close" {
			return nil
		}
		b.t.Fatalf("%s: %v", method, err)
	}
	select {
	case m, ok := <-c:
		if !ok {
			if method == "Browser.close" {
				return nil
			}
			b.t.Fatalf("%s: the browser went away", method)
		}
		if m.Error != nil {
			b.t.Fatalf("%s: %s", method, m.Error.Message)
		}
		return m.Result
	case <-time.After(20 * time.Second):
		if method == "Browser.close" {
			return nil
		}
		b.t.Fatalf("%s: no answer from the browser", method)
	}
	return nil
}

func (b *browser) decode(raw json.RawMessage, v any) {
	b.t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		b.t.Fatalf("decoding %s: %v", raw, err)
	}
}

// eval runs a JavaScript expression in the page and returns its value.
func (b *browser) eval(expr string) any {
	b.t.Helper()
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.decode(b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}), &r)
	if r.ExceptionDetails != nil {
		b.t.Fatalf("evaluating %s: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	return r.Result.Value
}

func (b *browser) str(expr string) string {
	b.t.Helper()
	s, _ := b.eval(expr).(string)
	return s
}

// waitJS waits until a JavaScript expression is true.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if v, _ := b.eval("(function(){try{return !!(" + expr + ")}catch(e){return false}})()").(bool); v {
			return
		}
		if time.Now().After(deadline) {
			b.screenshot("timeout")
			b.t.Fatalf("timed out waiting until %s (%s); page says: %s", what, expr, b.str(`document.body.innerText.slice(0, 2000)`))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// press presses the element that a CSS selector names for hold, as a
// finger would: it scrolls it into view and presses at its middle.
func (b *browser) press(selector string, hold time.Duration) {
	b.t.Helper()
	var r struct{ X, Y float64 }
	v := b.eval(fmt.Sprintf(`(function(){var e=document.querySelector(%q); e.scrollIntoView({block:'center'}); var r=e.getBoundingClientRect(); return JSON.stringify({x:r.left+r.width/2, y:r.top+r.height/2});})()`, selector))
	json.Unmarshal([]byte(v.(string)), &r)
	ev := func(typ string) {
		b.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": r.X, "y": r.Y, "button": "left", "buttons": 1, "clickCount": 1})
	}
	ev("mousePressed")
	time.Sleep(hold)
	ev("mouseReleased")
}

func (b *browser) click(selector string) { b.t.Helper(); b.press(selector, 30*time.Millisecond) }

// setValue types into a form field.
func (b *browser) setValue(selector, value string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(function(){var e=document.querySelector(%q); e.focus(); e.value=%q; e.dispatchEvent(new Event('input',{bubbles:true})); e.dispatchEvent(new Event('change',{bubbles:true})); return true;})()`, selector, value))
}

func (b *browser) screenshot(name string) {
	if b.shots == "" {
		return
	}
	var r struct{ Data string }
	b.decode(b.call("Page.captureScreenshot", map[string]any{"format": "png"}), &r)
	png, _ := base64.StdEncoding.DecodeString(r.Data)
	b.shotN++
	os.WriteFile(filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.shotN, name)), png, 0o644)
}

func feedHas(n *node.Node, ok func(node.Entry) bool) bool {
	es, _ := n.Feed(node.FeedQuery{})
	for _, e := range es {
		if ok(e) {
			return true
		}
	}
	return false
}

// TestBrowser uses the web UI as a person would, in a real browser: it
// opens the address that `takecare ui` prints, sends an alert and sees it
// in the live feed, answers another member's alert, sends a panic by
// holding the button (and not by tapping it), ends one check-in normally
// and one under duress and sees the same screen both times, makes an
// invite with its QR code, and switches to Spanish.
func TestBrowser(t *testing.T) {
	t.Parallel()
	b := startBrowser(t, "en-US")
	nt := nodetest.New(t, 2, nodetest.Options{})
	nt.ConnectAll()
	gid := nt.Group("juchitan")
	A, B := nt.Nodes[0], nt.Nodes[1]
	token := strings.Repeat("5a", 24)
	addr, stop := serveAt(t, A.Node, "127.0.0.1:0", token)
	base := "http://" + addr

	// Without the token, the page asks for the address; a wrong one is
	// refused with a clear line.
	b.call("Page.navigate", map[string]any{"url": base + "/"})
	b.waitJS("the sign-in view shows", `!document.getElementById('view-login').hidden && document.getElementById('nav').hidden`)
	b.setValue(`#login-token`, base+"/#token="+strings.Repeat("0", 48))
	b.click(`#login-form button[type=submit]`)
	b.waitJS("the wrong key is refused", `document.getElementById('login-error').textContent.indexOf('Your node did not accept the key') === 0`)
	b.screenshot("login")
	b.mu.Lock()
	b.errs = nil // the browser logs the 401s just provoked
	b.mu.Unlock()

	b.call("Browser.grantPermissions", map[string]any{"permissions": []string{"notifications"}, "origin": base})
	b.call("Page.navigate", map[string]any{"url": base + "/#token=" + token})
	b.waitJS("the panic button shows and says to hold it", `!document.getElementById('panic-box').hidden && document.getElementById('panic-label').textContent === 'PANIC · juchitan' && document.querySelector('#panic .hold').textContent === 'Press and hold for 1 second'`)
	if v := b.eval(`document.getElementById('panic-to-box').hidden && document.getElementById('welcome').hidden`); v != true {
		t.Error("with one group, the page shows a group choice for the panic, or the first-screen guide")
	}
	b.waitJS("the feed is live", `document.getElementById('conn').classList.contains('live')`)
	if h := b.str(`location.href`); strings.Contains(h, token) {
		t.Errorf("the token is still in the address bar: %s", h)
	}
	if v := b.eval(`sessionStorage.getItem('takecare.token') === ` + fmt.Sprintf("%q", token) + ` && localStorage.length === 0`); v != true {
		t.Errorf("token not in sessionStorage, or something in localStorage")
	}
	if l := b.str(`document.documentElement.lang`); l != "en" {
		t.Errorf("page language %q with an English browser", l)
	}
	b.waitJS("with notifications allowed, the page asks nothing", `document.getElementById('alarms-box').hidden`)
	b.screenshot("feed")
	// Watch what the page does when an alarm arrives: the system
	// notification and the vibration it asks the browser for.
	b.eval(`(function(){window.__notes=[];window.__vib=0;window.Notification=function(t,o){window.__notes.push(t+'|'+o.body);return {close:function(){}}};window.Notification.permission='granted';navigator.vibrate=function(){window.__vib++;return true};return true})()`)

	// Send an alert from the form; it shows in the live feed, and reaches B.
	b.click(`#nav [data-view=alert]`)
	b.eval(`document.getElementById('alert-kind').value = 'checkpoint'`)
	b.click(`#alert-severity input[value=urgent]`)
	b.setValue(`#alert-region`, "istmo")
	b.setValue(`#alert-place`, "crossroads to Ixtepec")
	b.setValue(`#alert-text`, "Armed men at the crossroads <b>now</b>")
	b.screenshot("alert-form")
	b.click(`#alert-form button[type=submit]`)
	b.waitJS("the form says sent", `document.querySelector('#alert-form .status').textContent.indexOf('Alert sent to juchitan') === 0`)
	b.click(`#nav [data-view=feed]`)
	b.waitJS("the alert is in the feed", `[].some.call(document.querySelectorAll('#feed-list .entry .text'), function(e){return e.textContent === 'Armed men at the crossroads <b>now</b>'})`)
	if k := b.str(`document.querySelector('#feed-list .entry.kind-checkpoint .kind').textContent`); k != "Checkpoint" {
		t.Errorf("alert shows as %q", k)
	}
	nt.WaitFor(10*time.Second, "B has the alert", func() bool {
		return feedHas(B.Node, func(e node.Entry) bool {
			return e.Text == "Armed men at the crossroads <b>now</b>" && e.Kind == "checkpoint" && e.Severity == "urgent" && e.Place == "crossroads to Ixtepec"
		})
	})

	// B's alert arrives live; answering it from the page reaches B.
	if _, err := B.Node.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "detention", Severity: "critical", Text: "Carmen detained at the market"}); err != nil {
		t.Fatal(err)
	}
	b.waitJS("B's alert is in the feed", `!!document.querySelector('#feed-list .entry.kind-detention')`)
	b.waitJS("a critical alert raises the alarm", `window.__notes.length === 1 && window.__notes[0] === 'Detention · juchitan|member-01' && window.__vib > 0 && document.getElementById('notice-text').textContent === 'New: Detention · member-01 · juchitan'`)
	b.click(`#notice-close`)
	b.click(`#feed-list .entry.kind-detention button.ack-responding`)
	b.waitJS("the answer shows under the alert", `(document.querySelector('#feed-list .entry.kind-detention .acks') || {textContent:''}).textContent.indexOf('member-00: on the way') === 0`)
	nt.WaitFor(10*time.Second, "B sees the answer", func() bool {
		return feedHas(B.Node, func(e node.Entry) bool {
			return e.Kind == "detention" && len(e.Acks) == 1 && e.Acks[0].Author == "member-00" && e.Acks[0].Status == "responding"
		})
	})
	b.screenshot("feed-acks")

	// The daemon stops and comes back: the page says so, reconnects by
	// itself and shows what arrived meanwhile.
	stop()
	b.waitJS("the page says it is not connected", `document.getElementById('conn').classList.contains('retry')`)
	b.waitJS("a banner says the node cannot be reached", `!document.getElementById('notice').hidden && document.getElementById('notice-text').textContent.indexOf('Cannot reach your takecare node') === 0`)
	if _, err := B.Node.SendAlert(context.Background(), gid, node.AlertRequest{Kind: "info", Severity: "info", Text: "Road open again"}); err != nil {
		t.Fatal(err)
	}
	serveAt(t, A.Node, addr, token)
	b.waitJS("the feed is live again", `document.getElementById('conn').classList.contains('live')`)
	b.waitJS("the alert sent meanwhile shows", `[].some.call(document.querySelectorAll('#feed-list .entry .text'), function(e){return e.textContent === 'Road open again'})`)
	b.waitJS("the banner went away by itself", `document.getElementById('notice').hidden`)
	b.mu.Lock()
	b.errs = nil // the browser logs the refused connections just provoked
	b.mu.Unlock()

	// A tap on PANIC sends nothing; a one-second hold sends it.
	b.press(`#panic`, 150*time.Millisecond)
	b.waitJS("the page says not sent", `document.getElementById('panic-status').textContent.indexOf('Not sent') === 0`)
	time.Sleep(1200 * time.Millisecond)
	if feedHas(A.Node, func(e node.Entry) bool { return e.Kind == "panic" }) {
		t.Fatal("a tap on the panic button sent a panic")
	}
	b.press(`#panic`, 1300*time.Millisecond)
	b.waitJS("the page says sent", `document.getElementById('panic-status').textContent.indexOf('PANIC sent to juchitan') === 0`)
	nt.WaitFor(10*time.Second, "B has the panic", func() bool {
		return feedHas(B.Node, func(e node.Entry) bool {
			return e.Kind == "panic" && e.Severity == "critical" && e.Author == "member-00"
		})
	})
	b.screenshot("panic-sent")

	// "It was a mistake" asks first; cancelling sends nothing.
	b.click(`#panic-undo`)
	b.waitJS("the sheet asks", `!document.getElementById('sheet').hidden && document.getElementById('sheet-title').textContent === 'Tell the group it was a mistake?'`)
	b.click(`#sheet-cancel`)
	b.waitJS("the sheet closes", `document.getElementById('sheet').hidden`)
	time.Sleep(300 * time.Millisecond)
	if feedHas(A.Node, func(e node.Entry) bool { return e.Kind == "allclear" }) {
		t.Fatal("cancelling the all clear sent it")
	}
	b.click(`#panic-undo`)
	b.waitJS("the sheet asks again", `!document.getElementById('sheet').hidden`)
	b.click(`#sheet-ok`)
	b.waitJS("the page says the group was told", `document.getElementById('panic-status').textContent.indexOf('The group juchitan was told all is well.') === 0 && document.getElementById('panic-undo').hidden`)
	nt.WaitFor(10*time.Second, "B has the all clear", func() bool {
		return feedHas(B.Node, func(e node.Entry) bool { return e.Kind == "allclear" && e.Author == "member-00" })
	})
	// It says so as a notice, which each reader words in their language.
	if !feedHas(B.Node, func(e node.Entry) bool {
		return e.Kind == "allclear" && e.Text == "" && e.Notice != nil && e.Notice.What == "mistake" && e.Notice.Who == "member-00"
	}) {
		t.Error("the all clear for a mistaken panic carries no notice, or a text")
	}
	b.waitJS("the all clear is worded", `[].some.call(document.querySelectorAll('#feed-list .entry.kind-allclear .text'), function(e){return e.textContent === 'member-00 sent a panic by mistake. All is well.'})`)

	// Two check-ins to the same place: one ended normally, one with a code
	// typed in. This screen shows the same both times; B learns the
	// difference.
	b.click(`#nav [data-view=checkins]`)
	var notices []string
	for i, code := range []string{"", "4321"} {
		b.setValue(`#checkin-from`, "Juchitán")
		b.setValue(`#checkin-to`, "Ixtepec")
		b.click(`#checkin-form button[type=submit]`)
		b.waitJS("the check-in is listed", `!!document.querySelector('#checkin-list .checkin button.done')`)
		if i == 0 {
			b.screenshot("checkin")
		}
		b.click(`#checkin-list .checkin button.done`)
		b.waitJS("the sheet is open", `!document.getElementById('sheet').hidden`)
		if code != "" {
			b.setValue(`#done-code`, code)
		}
		b.screenshot("done-sheet")
		b.click(`#sheet-ok`)
		b.waitJS("the sheet closes", `document.getElementById('sheet').hidden`)
		b.waitJS("the notice shows", `!document.getElementById('notice').hidden`)
		b.waitJS("the list is empty", `!document.querySelector('#checkin-list .checkin')`)
		notices = append(notices, b.str(`document.getElementById('notice-text').textContent + '|' + document.getElementById('checkin-list').innerText + '|' + document.getElementById('checkin-empty').hidden`))
		b.click(`#notice-close`)
	}
	if notices[0] != notices[1] {
		t.Errorf("the screen after a done with a code differs from a normal one:\n%q\n%q", notices[0], notices[1])
	}
	if !strings.HasPrefix(notices[0], "You marked yourself safe: Juchitán → Ixtepec.") {
		t.Errorf("notice after done: %q", notices[0])
	}
	nt.WaitFor(10*time.Second, "B sees one arrival and one duress", func() bool {
		var arrived, duress int
		es, _ := B.Node.Feed(node.FeedQuery{})
		for _, e := range es {
			switch e.Kind {
			case "arrived":
				arrived++
			case "duress":
				duress++
			}
		}
		return arrived == 1 && duress == 1
	})
	b.click(`#nav [data-view=feed]`)
	b.waitJS("both arrivals are in A's feed", `document.querySelectorAll('#feed-list .entry.kind-arrived').length === 2`)
	if b.eval(`!!document.querySelector('#feed-list .entry.kind-duress')`) == true {
		t.Error("A's own feed shows the duress")
	}

	// An invite with its QR code (an image the page fetched with the token).
	b.click(`#nav [data-view=groups]`)
	b.waitJS("the group is listed", `!!document.querySelector('#group-list .group button')`)
	b.click(`#group-list .group button`)
	b.waitJS("members are listed", `document.querySelectorAll('#member-list .member').length === 2`)
	// How A's node reaches B's, with the last sync; none for A itself.
	b.waitJS("B's path shows", `document.querySelectorAll('#member-list .member .path').length === 1 && /^Direct connection( for .*)? · (last sync .* ago|no sync yet)$/.test(document.querySelector('#member-list .member .path').textContent)`)
	b.click(`#invite-form button[type=submit]`)
	b.waitJS("the QR code shows", `document.getElementById('invite-qr').complete && document.getElementById('invite-qr').naturalWidth > 0 && !document.getElementById('invite-qr').hidden`)
	if code := b.str(`document.getElementById('invite-code').textContent`); !strings.HasPrefix(code, "TC1-") {
		t.Errorf("invite code shown: %q", code)
	}
	// Listed with the one B joined with, which is used up.
	b.waitJS("the invite is listed", `document.querySelectorAll('#invite-list .invite').length === 2 && document.querySelectorAll('#invite-list .invite.closed').length === 1`)
	b.screenshot("invite")

	// Spanish.
	b.click(`#lang`)
	b.waitJS("the page is in Spanish", `document.documentElement.lang === 'es' && document.querySelector('#nav [data-view=feed]').textContent === 'Alertas'`)
	b.click(`#nav [data-view=feed]`)
	b.waitJS("the feed is in Spanish", `document.querySelector('#feed-list .entry.kind-checkpoint .kind').textContent === 'Retén'`)
	if s := b.str(`document.getElementById('panic-status').textContent`); !strings.HasPrefix(s, "Se avisó a juchitan que todo está bien.") {
		t.Errorf("panic status after switching to Spanish: %q", s)
	}
	b.screenshot("feed-es")

	if v := b.eval(`localStorage.length`); v != float64(0) {
		t.Errorf("localStorage holds %v items", v)
	}
	b.mu.Lock()
	errs := b.errs
	b.mu.Unlock()
	for _, e := range errs {
		t.Errorf("browser console: %s", e)
	}
}

// TestBrowserSpanish: with a Spanish browser the page starts in Spanish,
// and its check-in form offers due times in Spanish.
func TestBrowserSpanish(t *testing.T) {
	t.Parallel()
	b := startBrowser(t, "es-MX")
	nt := nodetest.New(t, 2, nodetest.Options{Config: func(i int, c *node.Config) { c.AlarmJitter = -1 }})
	nt.ConnectAll()
	n := nt.Nodes[0]
	base, token := webServer(t, n.Node)
	b.call("Browser.setPermission", map[string]any{"permission": map[string]any{"name": "notifications"}, "setting": "denied", "origin": base})
	b.call("Page.navigate", map[string]any{"url": base + "/#token=" + token})

	// In no group yet, the first screen says what to do, not an empty feed.
	b.waitJS("the first screen guides", `document.documentElement.lang === 'es' && !document.getElementById('welcome').hidden && document.getElementById('panic-box').hidden && document.getElementById('feed-empty').hidden && document.querySelector('#welcome h1').textContent === 'Te damos la bienvenida a takecare'`)
	b.screenshot("welcome-es")
	if p := findAxe(); p != "" {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b.axeCheck(string(src), "first screen (es)")
		b.click(`#lang`)
		b.waitJS("in English", `document.documentElement.lang === 'en'`)
		b.axeCheck(string(src), "first screen (en)")
		b.screenshot("welcome-en")
		b.click(`#lang`)
		b.waitJS("in Spanish", `document.documentElement.lang === 'es'`)
	}
	b.setValue(`#welcome-name`, "juchitan")
	b.click(`#welcome-create-form button[type=submit]`)
	b.waitJS("the panic button replaces the guide", `document.getElementById('welcome').hidden && document.getElementById('panic-label').textContent === 'PÁNICO · juchitan' && document.querySelector('#panic .hold').textContent === 'Mantén presionado 1 segundo'`)
	b.waitJS("the page says notifications are blocked", `document.getElementById('alarms-state').textContent.indexOf('Este navegador bloquea las notificaciones') === 0 && document.getElementById('alarms-box').classList.contains('blocked')`)
	if l := b.str(`document.getElementById('lang').textContent`); l != "English" {
		t.Errorf("language button says %q", l)
	}

	// With two groups, one panic control sends to all of them. (A panic
	// needs someone to receive it: the other node joins both.)
	if _, err := n.CreateGroup(context.Background(), "ixtepec"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"juchitan", "ixtepec"} {
		gid, err := n.ResolveGroup(name)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := n.CreateInvite(context.Background(), gid, 1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nt.Nodes[1].Join(context.Background(), inv.Code); err != nil {
			t.Fatal(err)
		}
	}
	b.click(`#nav [data-view=groups]`)
	b.click(`#nav [data-view=feed]`)
	b.waitJS("the panic goes to all groups", `!document.getElementById('panic-to-box').hidden && document.getElementById('panic-label').textContent === 'PÁNICO · todos mis grupos' && document.getElementById('panic-to').selectedOptions[0].textContent === 'Todos mis grupos (2)'`)
	b.screenshot("feed-es")
	b.press(`#panic`, 1300*time.Millisecond)
	b.waitJS("the page says sent to both", `/^PÁNICO enviado a (ixtepec, juchitan|juchitan, ixtepec) `+esAt+`\.$/.test(document.getElementById('panic-status').textContent)`)
	nt.WaitFor(10*time.Second, "both groups have a panic", func() bool {
		es, _ := n.Feed(node.FeedQuery{})
		groups := map[string]bool{}
		for _, e := range es {
			if e.Kind == "panic" {
				groups[e.Group] = true
			}
		}
		return groups["juchitan"] && groups["ixtepec"]
	})

	// An overdue alarm raises the alarm on the page, also when this very
	// node raised it.
	grace := time.Duration(0)
	juchitan, err := n.ResolveGroup("juchitan")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.StartCheckIn(context.Background(), juchitan, node.CheckInRequest{To: "Ixtepec", Due: time.Now().Add(time.Second), Grace: &grace}); err != nil {
		t.Fatal(err)
	}
	b.waitJS("the overdue alarm is announced", `document.getElementById('notice-text').textContent === 'Acaba de llegar: NO HA LLEGADO · member-00 · juchitan'`)
	b.click(`#notice-close`)

	b.click(`#nav [data-view=checkins]`)
	b.waitJS("the check-in form is in Spanish", `document.getElementById('checkin-due').selectedOptions[0].textContent === 'en 1 hora' && document.querySelector('#checkin-form button[type=submit]').textContent === 'Avisar al grupo'`)
	b.screenshot("checkin-es")

	// An error from the node is worded in Spanish, with nothing left in
	// English.
	b.click(`#nav [data-view=groups]`)
	b.setValue(`#join-code`, "TC1-AAAA")
	b.click(`#join-form button[type=submit]`)
	b.waitJS("the join error is in Spanish", `document.querySelector('#join-form .status').textContent.indexOf('No te pudiste unir: El código de invitación está dañado o mal escrito.') === 0`)
	if s := b.str(`document.querySelector('#join-form .status').textContent`); strings.Contains(s, "damaged") {
		t.Errorf("the Spanish page shows the node's English: %q", s)
	}
	// Switching language words it again.
	b.click(`#lang`)
	b.waitJS("the join error is in English", `document.querySelector('#join-form .status').textContent.indexOf('Could not join: The invite code is damaged or mistyped.') === 0`)
}

// TestBrowserAlarmInReadersLanguage: an overdue alarm reaches the page as
// fields, and a Spanish reader in Mexico City reads it in Spanish, with
// the times in her zone; a node whose clock is two hours behind shows its
// person a banner saying so.
func TestBrowserAlarmInReadersLanguage(t *testing.T) {
	t.Parallel()
	b := startBrowser(t, "es-MX")
	b.call("Emulation.setTimezoneOverride", map[string]any{"timezoneId": "America/Mexico_City"})
	behind := func() time.Time { return time.Now().Add(-2 * time.Hour) }
	nt := nodetest.New(t, 2, nodetest.Options{Config: func(i int, c *node.Config) {
		c.AlarmJitter, c.CatchUp = -1, -1
		if i == 1 {
			c.Now = behind
		}
	}})
	nt.ConnectAll()
	gid := nt.Group("juchitan")
	A, B := nt.Nodes[0], nt.Nodes[1]
	grace := time.Duration(0)
	if _, err := A.StartCheckIn(context.Background(), gid, node.CheckInRequest{From: "Juchitán", To: "Ixtepec", Due: time.Now().Add(time.Second), Grace: &grace}); err != nil {
		t.Fatal(err)
	}
	nt.WaitFor(10*time.Second, "the alarm at Beto's node", func() bool { return feedHas(B.Node, func(e node.Entry) bool { return e.Kind == "overdue" }) })
	nt.WaitFor(10*time.Second, "Beto's node compared clocks", func() bool { return B.Status().Clock.Off })
	base, token := webServer(t, B.Node)
	b.call("Page.navigate", map[string]any{"url": base + "/#token=" + token})
	b.waitJS("the alarm is in Spanish", `Array.prototype.some.call(document.querySelectorAll('#feed-list .kind-overdue .text'), function (p) {
		return /^member-00 salió de Juchitán hacia Ixtepec y no ha llegado\. Se le esperaba `+esAt+` \S+; la alarma sonó `+esAt+` \S+\.$/.test(p.textContent); })`)
	b.waitJS("the clock banner", `!document.getElementById('clock-warning').hidden && document.getElementById('clock-warning').textContent.indexOf('El reloj de este aparato va 2 horas atrasado') === 0`)
	if b.eval(`!!document.querySelector('#feed-list .author-clock')`) == true {
		t.Error("the page blames the sender's clock for its own")
	}
	b.screenshot("alarm-es")
	b.click(`#lang`)
	b.waitJS("the alarm in English", `Array.prototype.some.call(document.querySelectorAll('#feed-list .kind-overdue .text'), function (p) {
		return p.textContent.indexOf('member-00 left Juchitán for Ixtepec and has not arrived. Expected at ') === 0; })`)
}

// TestBrowserSession: the page opens again without a terminal. The first
// visit (with the address `takecare ui` prints) leaves a session cookie;
// after the browser is closed, and after the daemon restarts, the page
// opens straight to the panic button; when the node is not running the
// page still opens (its own files are kept) and says so; a browser that
// lost its cookie pairs again with the PIN set on the page. The page is
// an installable web app.
func TestBrowserSession(t *testing.T) {
	t.Parallel()
	b := startBrowser(t, "en-US")
	nt := nodetest.New(t, 2, nodetest.Options{})
	nt.ConnectAll()
	nt.Group("juchitan") // a panic needs someone to receive it
	n := nt.Nodes[0]
	file := filepath.Join(t.TempDir(), "web-sessions.json")
	token := strings.Repeat("c3", 24)
	addr, stop := sessionServer(t, n.Node, "127.0.0.1:0", token, file, "correct horse")
	base := "http://" + addr

	b.call("Page.navigate", map[string]any{"url": base + "/#token=" + token})
	b.waitJS("the page opens", `!document.getElementById('panic-box').hidden && document.getElementById('conn').classList.contains('live')`)
	var cookies struct {
		Cookies []struct {
			Name     string
			HTTPOnly bool `json:"httpOnly"`
			SameSite string
			Expires  float64
		}
	}
	b.decode(b.call("Network.getCookies", map[string]any{"urls": []string{base + "/"}}), &cookies)
	if len(cookies.Cookies) != 1 || cookies.Cookies[0].Name != "takecare_session" || !cookies.Cookies[0].HTTPOnly ||
		cookies.Cookies[0].SameSite != "Strict" || cookies.Cookies[0].Expires < float64(time.Now().Add(300*24*time.Hour).Unix()) {
		t.Fatalf("cookies after the first visit: %+v", cookies.Cookies)
	}
	var manifest struct {
		Errors []struct{ Message string }
		Data   string
	}
	b.decode(b.call("Page.getAppManifest", nil), &manifest)
	if len(manifest.Errors) > 0 || !strings.Contains(manifest.Data, `"standalone"`) {
		t.Errorf("web app manifest: %+v", manifest)
	}
	// Set a PIN for later.
	b.click(`#nav [data-view=groups]`)
	b.setValue(`#pin-new`, "2468")
	b.click(`#pin-form button[type=submit]`)
	b.waitJS("the PIN is saved", `document.querySelector('#pin-form .status').textContent.indexOf('PIN saved') === 0`)

	// The browser is closed (the tab's storage goes) and opened again on
	// the plain address: straight to the panic button, which works.
	b.eval(`sessionStorage.clear(), true`)
	b.call("Page.navigate", map[string]any{"url": base + "/"})
	b.waitJS("the page opens without the address's key", `!document.getElementById('panic-box').hidden && document.getElementById('view-login').hidden && document.getElementById('conn').classList.contains('live')`)
	b.press(`#panic`, 1300*time.Millisecond)
	b.waitJS("the panic is sent", `document.getElementById('panic-status').textContent.indexOf('PANIC sent to juchitan') === 0`)
	b.waitJS("the page's files are kept", `!!navigator.serviceWorker.controller`)

	// The daemon is not running: the page still opens, and says why it
	// cannot do anything; when the daemon is back, it goes on by itself.
	stop()
	b.call("Page.reload", nil)
	b.waitJS("the kept page says the node is down", `!document.getElementById('view-login').hidden && document.getElementById('login-error').textContent.indexOf('Cannot reach your takecare node') === 0`)
	b.screenshot("offline")
	sessionServer(t, n.Node, addr, token, file, "correct horse")
	b.waitJS("the page opens when the daemon is back", `!document.getElementById('panic-box').hidden && document.getElementById('conn').classList.contains('live')`)

	// Without the cookie, the PIN opens the page again; a wrong one does not.
	b.call("Network.clearBrowserCookies", nil)
	b.call("Page.reload", nil)
	b.waitJS("the page asks for the PIN", `!document.getElementById('view-login').hidden && !document.getElementById('pair-form').hidden`)
	b.screenshot("pair")
	b.setValue(`#pair-secret`, "1111")
	b.click(`#pair-form button[type=submit]`)
	b.waitJS("a wrong PIN is refused", `document.getElementById('login-error').textContent === 'That PIN or passphrase is not right.'`)
	b.setValue(`#pair-secret`, "2468")
	b.click(`#pair-form button[type=submit]`)
	b.waitJS("the PIN opens the page", `!document.getElementById('panic-box').hidden && document.getElementById('conn').classList.contains('live')`)

	b.mu.Lock()
	errs := b.errs
	b.mu.Unlock()
	for _, e := range errs {
		if !strings.Contains(e, "ERR_CONNECTION_REFUSED") && !strings.Contains(e, "status of 401") && !strings.Contains(e, "status of 403") && !strings.Contains(e, "ERR_FAILED") {
			t.Errorf("browser console: %s", e)
		}
	}
}

// findAxe returns the path of axe-core's axe.min.js: $TAKECARE_AXE, or
// where .ci/run installs it (npm install --prefix .cache/axe axe-core).
func findAxe() string {
	if p := os.Getenv("TAKECARE_AXE"); p != "" {
		return p
	}
	p, _ := filepath.Abs("../../.cache/axe/node_modules/axe-core/axe.min.js")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// axeCheck runs axe-core on the page as it is now and fails the test for
// every serious or critical violation of WCAG 2.1 A and AA.
func (b *browser) axeCheck(src, screen string) {
	b.t.Helper()
	if b.eval(`typeof axe === 'undefined'`) == true {
		b.eval(src + "; true")
	}
	raw := b.str(`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']}).then(function (r) {
		return JSON.stringify(r.violations.filter(function (v) { return v.impact === 'serious' || v.impact === 'critical'; }).map(function (v) {
			return v.impact + ' ' + v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(function (n) { return n.target.join(' ') + ' (' + n.failureSummary.replace(/\s+/g, ' ') + ')'; }).join('; ');
		}));
	})`)
	var vs []string
	json.Unmarshal([]byte(raw), &vs)
	for _, v := range vs {
		b.t.Errorf("%s: %s", screen, v)
	}
}

// key presses and releases a key, as a keyboard does.
func (b *browser) key(name string, hold time.Duration) {
	b.t.Helper()
	codes := map[string]int{"Tab": 9, "Enter": 13, " ": 32, "Escape": 27}
	p := map[string]any{"key": name, "code": map[string]string{" ": "Space"}[name], "windowsVirtualKeyCode": codes[name]}
	if name != " " {
		p["code"] = name
	}
	down := map[string]any{"type": "keyDown"}
	up := map[string]any{"type": "keyUp"}
	for k, v := range p {
		down[k], up[k] = v, v
	}
	if name == "Enter" || name == " " {
		down["text"] = map[string]string{"Enter": "\r", " ": " "}[name]
	}
	b.call("Input.dispatchKeyEvent", down)
	time.Sleep(hold)
	b.call("Input.dispatchKeyEvent", up)
}

// tabReaches presses Tab until focus comes back round and reports the
// visible controls of the page that focus never reached.
func (b *browser) tabReaches() []string {
	b.t.Helper()
	b.eval(`document.activeElement && document.activeElement.blur(), window.__seen = new Set(), true`)
	for i := 0; i < 120; i++ {
		b.key("Tab", 0)
		if b.eval(`(function(){var e=document.activeElement; if(!e||e===document.body){return false} var had=window.__seen.has(e); window.__seen.add(e); return had})()`) == true {
			break
		}
	}
	raw := b.str(`JSON.stringify([].filter.call(document.querySelectorAll('button, input, select, textarea, a[href]'), function (e) {
		return !e.disabled && e.offsetParent !== null && !window.__seen.has(e) && e.type !== 'radio';
	}).map(function (e) { return e.id || e.getAttribute('data-view') || e.className || e.textContent; }))`)
	var missed []string
	json.Unmarshal([]byte(raw), &missed)
	return missed
}

// TestBrowserAccessibility runs axe-core on every screen of the web UI in
// English and in Spanish (no serious or critical violation of WCAG 2.1 AA)
// and checks that every control of each screen is reached with the Tab
// key, and that a panic can be sent from the keyboard alone.
func TestBrowserAccessibility(t *testing.T) {
	t.Parallel()
	axePath := findAxe()
	if axePath == "" {
		t.Skip("axe-core not installed (npm install --prefix .cache/axe axe-core, or set TAKECARE_AXE); accessibility test skipped")
	}
	b := startBrowser(t, "en-US")
	src, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	nt := nodetest.New(t, 2, nodetest.Options{})
	nt.ConnectAll()
	gid := nt.Group("juchitan")
	A, B := nt.Nodes[0], nt.Nodes[1]
	for _, r := range []node.AlertRequest{
		{Kind: "checkpoint", Severity: "urgent", Region: "istmo", Place: "crossroads", Text: "Armed men at the crossroads"},
		{Kind: "info", Severity: "info", Text: "Road open again"},
	} {
		if _, err := B.Node.SendAlert(context.Background(), gid, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := A.Node.StartCheckIn(context.Background(), gid, node.CheckInRequest{To: "Ixtepec", Due: time.Now().Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	nt.WaitFor(10*time.Second, "A has B's alerts", func() bool {
		return feedHas(A.Node, func(e node.Entry) bool { return e.Text == "Road open again" })
	})
	file := filepath.Join(t.TempDir(), "web-sessions.json")
	token := strings.Repeat("d4", 24)
	addr, _ := sessionServer(t, A.Node, "127.0.0.1:0", token, file, "correct horse")
	base := "http://" + addr
	js := string(src)

	// The sign-in screen, as a browser without a session sees it.
	b.call("Page.navigate", map[string]any{"url": base + "/"})
	b.waitJS("the sign-in screen shows", `!document.getElementById('view-login').hidden`)
	b.axeCheck(js, "sign-in (en)")
	b.screenshot("sign-in-en")
	b.click(`#lang`)
	b.waitJS("in Spanish", `document.documentElement.lang === 'es'`)
	b.axeCheck(js, "sign-in (es)")
	b.screenshot("sign-in-es")
	b.click(`#lang`)

	b.call("Page.navigate", map[string]any{"url": base + "/#token=" + token})
	b.waitJS("the feed shows", `document.querySelectorAll('#feed-list .entry').length >= 3 && document.getElementById('conn').classList.contains('live')`)
	screens := []struct{ name, open, ready string }{
		{"feed", `#nav [data-view=feed]`, `!document.getElementById('view-feed').hidden`},
		{"alert", `#nav [data-view=alert]`, `!document.getElementById('view-alert').hidden`},
		{"check-ins", `#nav [data-view=checkins]`, `!!document.querySelector('#checkin-list .checkin button.done')`},
		{"groups", `#nav [data-view=groups]`, `!!document.querySelector('#group-list .group button')`},
		{"group", `#group-list .group button`, `document.querySelectorAll('#member-list .member').length === 2`},
	}
	for _, lang := range []string{"en", "es"} {
		if b.str(`document.documentElement.lang`) != lang {
			b.click(`#lang`)
			b.waitJS("the language changes", `document.documentElement.lang === '`+lang+`'`)
		}
		for _, s := range screens {
			if s.name == "group" {
				b.click(`#nav [data-view=groups]`)
				b.waitJS("groups", `!!document.querySelector('#group-list .group button')`)
			}
			b.click(s.open)
			b.waitJS(s.name+" shows", s.ready)
			b.axeCheck(js, s.name+" ("+lang+")")
			b.screenshot(s.name + "-" + lang)
			if missed := b.tabReaches(); len(missed) > 0 {
				t.Errorf("%s (%s): the Tab key never reaches %v", s.name, lang, missed)
			}
		}
		// A confirmation sheet (the safety number of the other member).
		b.click(`#member-list .member button.secondary`)
		b.waitJS("the sheet opens", `!document.getElementById('sheet').hidden && document.activeElement.id === 'sheet-cancel'`)
		b.axeCheck(js, "sheet ("+lang+")")
		b.key("Escape", 0)
		b.waitJS("Escape closes the sheet", `document.getElementById('sheet').hidden`)
	}

	// A panic from the keyboard alone: Tab to the button, hold Enter.
	b.click(`#nav [data-view=feed]`)
	b.eval(`document.activeElement && document.activeElement.blur(), true`)
	for i := 0; i < 40 && b.str(`document.activeElement.id`) != "panic"; i++ {
		b.key("Tab", 0)
	}
	if b.str(`document.activeElement.id`) != "panic" {
		t.Fatal("the Tab key never reaches the panic button")
	}
	b.key("Enter", 1300*time.Millisecond)
	b.waitJS("the panic is sent", `/^PÁNICO enviado a juchitan/.test(document.getElementById('panic-status').textContent)`)
}
