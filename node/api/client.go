package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/report"
	"github.com/takecare-network/takecare/node/smsbridge"
)

// SocketName is the file name of the API socket inside the home folder.
const SocketName = "api.sock"

// ErrNotRunning means no daemon answers on the home folder's socket.
var ErrNotRunning = node.NewError(node.KindUnavailable, "the takecare daemon is not running")

// Client talks to a daemon's API over its unix socket.
type Client struct {
	home string
	hc   *http.Client
}

// NewClient returns a client for the daemon of the home folder. It does not
// connect until the first call.
func NewClient(home string) *Client {
	sock := filepath.Join(home, SocketName)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableCompression: true,
	}
	return &Client{home: home, hc: &http.Client{Transport: tr}}
}

func (c *Client) notRunning() error {
	return fmt.Errorf("%w for %s (start it with: takecare run --home %s)", ErrNotRunning, c.home, c.home)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.request(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the daemon's answer: %w", err)
	}
	return nil
}

func (c *Client) request(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://takecare"+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if isNotRunning(err) {
			return nil, c.notRunning()
		}
		return nil, fmt.Errorf("talking to the daemon: %w", err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e ErrorBody
		if json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return nil, &Error{Status: resp.StatusCode, Code: e.Code, Params: e.Params, Message: e.Error}
	}
	return resp, nil
}

func isNotRunning(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}

// Error is an error the daemon reported: its HTTP status, its stable code
// and parameters (see [ErrorBody]) and its English line.
type Error struct {
	Status  int
	Code    string
	Params  map[string]string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Kind is the error's kind, as its HTTP status tells it
// ([node.KindForStatus]).
func (e *Error) Kind() node.Kind { return node.KindForStatus(e.Status) }

// Running reports whether a daemon answers within 10 s. A daemon that is
// there answers at once when the machine is idle, and in seconds when it is
// loaded; no daemon (no socket) is known at once.
func (c *Client) Running(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.Status(ctx)
	return err == nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, "GET", "/v1/status", nil, &st)
	return st, err
}

// Groups lists the node's groups.
func (c *Client) Groups(ctx context.Context) ([]node.GroupInfo, error) {
	var gs []node.GroupInfo
	err := c.do(ctx, "GET", "/v1/groups", nil, &gs)
	return gs, err
}

// CreateGroup founds a group.
func (c *Client) CreateGroup(ctx context.Context, name string) (node.GroupInfo, error) {
	var g node.GroupInfo
	err := c.do(ctx, "POST", "/v1/groups", CreateGroupRequest{Name: name}, &g)
	return g, err
}

func groupPath(group, rest string) string { return "/v1/groups/" + url.PathEscape(group) + rest }

// Invite makes an invite to a group.
func (c *Client) Invite(ctx context.Context, group string, uses int, ttl time.Duration) (node.Invite, error) {
	var inv node.Invite
	err := c.do(ctx, "POST", groupPath(group, "/invites"), InviteRequest{Uses: uses, TTL: Duration(ttl)}, &inv)
	return inv, err
}

// Join redeems an invite code.
func (c *Client) Join(ctx context.Context, code string) (node.JoinResult, error) {
	var g node.JoinResult
	err := c.do(ctx, "POST", "/v1/join", JoinRequest{Code: code}, &g)
	return g, err
}

// Members lists a group's members.
func (c *Client) Members(ctx context.Context, group string) ([]node.MemberView, error) {
	var ms []node.MemberView
	err := c.do(ctx, "GET", groupPath(group, "/members"), nil, &ms)
	return ms, err
}

// Alert sends an alert and returns its id and delivery.
func (c *Client) Alert(ctx context.Context, group string, req AlertRequest) (SentResponse, error) {
	var r SentResponse
	err := c.do(ctx, "POST", groupPath(group, "/alerts"), req, &r)
	return r, err
}

// Panic sends a panic alert and returns its id and delivery.
func (c *Client) Panic(ctx context.Context, group, text string) (SentResponse, error) {
	var r SentResponse
	err := c.do(ctx, "POST", groupPath(group, "/panic"), PanicRequest{Text: text}, &r)
	return r, err
}

// FeedOptions select what [Client.Feed] returns.
type FeedOptions struct {
	Group  string
	Region string
	Follow bool
}

// Feed calls fn for each feed entry. Without Follow it returns after the
// backlog; with Follow it keeps calling fn for new entries until ctx is done
// or fn returns an error.
func (c *Client) Feed(ctx context.Context, o FeedOptions, fn func(node.Entry) error) error {
	q := url.Values{}
	if o.Group != "" {
		q.Set("group", o.Group)
	}
	if o.Region != "" {
		q.Set("region", o.Region)
	}
	if o.Follow {
		q.Set("follow", "1")
	}
	resp, err := c.request(ctx, "GET", "/v1/feed?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e node.Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("reading the feed: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("reading the feed: %w", err)
	}
	if o.Follow && ctx.Err() == nil {
		return errors.New("the daemon stopped")
	}
	return nil
}

// Shutdown asks the daemon to stop.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, "POST", "/v1/shutdown", struct{}{}, nil)
}

// SocketExists reports whether the home folder has an API socket (a daemon
// may be running, or may have crashed and left it).
func SocketExists(home string) bool {
	_, err := os.Stat(filepath.Join(home, SocketName))
	return err == nil
}

// Remove removes a member from a group.
func (c *Client) Remove(ctx context.Context, group, member string) (node.Removal, error) {
	var r node.Removal
	err := c.do(ctx, "POST", groupPath(group, "/members/"+url.PathEscape(member)+"/remove"), struct{}{}, &r)
	return r, err
}

// SetRole makes a member "admin" or "member".
func (c *Client) SetRole(ctx context.Context, group, member, role string) (node.MemberView, error) {
	var m node.MemberView
	err := c.do(ctx, "POST", groupPath(group, "/members/"+url.PathEscape(member)+"/role"), RoleRequest{Role: role}, &m)
	return m, err
}

// Invites lists a group's invites.
func (c *Client) Invites(ctx context.Context, group string) ([]node.InviteView, error) {
	var invs []node.InviteView
	err := c.do(ctx, "GET", groupPath(group, "/invites"), nil, &invs)
	return invs, err
}

// RevokeInvite revokes an invite by id or prefix.
func (c *Client) RevokeInvite(ctx context.Context, group, id string) (node.InviteView, error) {
	var inv node.InviteView
	err := c.do(ctx, "POST", groupPath(group, "/invites/"+url.PathEscape(id)+"/revoke"), struct{}{}, &inv)
	return inv, err
}

// Verify returns the safety number with a member; confirm marks the member
// verified.
func (c *Client) Verify(ctx context.Context, member string, confirm bool) (node.Verification, error) {
	var v node.Verification
	method := "GET"
	var body any
	if confirm {
		method, body = "POST", struct{}{}
	}
	err := c.do(ctx, method, "/v1/verify/"+url.PathEscape(member), body, &v)
	return v, err
}

// Report fetches a group's public counts (admins only). since may be zero;
// by nil means the report's default.
func (c *Client) Report(ctx context.Context, group string, since time.Time, by []string, threshold int) (report.Report, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.Format(time.RFC3339))
	}
	if by != nil {
		q.Set("by", strings.Join(by, ","))
	}
	if threshold != 0 {
		q.Set("min", strconv.Itoa(threshold))
	}
	var r report.Report
	err := c.do(ctx, http.MethodGet, "/v1/groups/"+url.PathEscape(group)+"/report?"+q.Encode(), nil, &r)
	return r, err
}

// SMSGrant makes a grant code that lets bridge (a member name or id prefix)
// send to group on this member's behalf for days (0: 90).
func (c *Client) SMSGrant(ctx context.Context, group, bridge string, days int) (GrantResponse, error) {
	var out GrantResponse
	err := c.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(group)+"/sms/grant", GrantRequest{Bridge: bridge, Days: days}, &out)
	return out, err
}

// SMSEnrol enrols, on this daemon's bridge, the member whose grant code is
// given, from number, with a TOTP code ("totp") or a PIN ("pin").
func (c *Client) SMSEnrol(ctx context.Context, code, number, mode string) (smsbridge.Enrolled, error) {
	var out smsbridge.Enrolled
	err := c.do(ctx, http.MethodPost, "/v1/sms/enrol", EnrolRequest{Code: code, Number: number, Mode: mode}, &out)
	return out, err
}

// SMSLines returns a group's safe lines, or sets them when req is not nil.
func (c *Client) SMSLines(ctx context.Context, group string, req *LinesRequest) (smsbridge.Lines, error) {
	var out smsbridge.Lines
	path := "/v1/groups/" + url.PathEscape(group) + "/sms/lines"
	if req == nil {
		return out, c.do(ctx, http.MethodGet, path, nil, &out)
	}
	return out, c.do(ctx, http.MethodPost, path, req, &out)
}

// SMSMembers lists the members enrolled on this daemon's bridge.
func (c *Client) SMSMembers(ctx context.Context) ([]smsbridge.EnrolledMember, error) {
	var out []smsbridge.EnrolledMember
	return out, c.do(ctx, http.MethodGet, "/v1/sms/members", nil, &out)
}

// SMSRemove forgets a member's enrolment in a group.
func (c *Client) SMSRemove(ctx context.Context, group, member string) (bool, error) {
	var out map[string]bool
	err := c.do(ctx, http.MethodPost, "/v1/sms/members/"+url.PathEscape(group)+"/"+url.PathEscape(member)+"/remove", struct{}{}, &out)
	return out["removed"], err
}

// SMSStatus returns the bridge's counts.
func (c *Client) SMSStatus(ctx context.Context) (smsbridge.Stats, error) {
	var out smsbridge.Stats
	return out, c.do(ctx, http.MethodGet, "/v1/sms/status", nil, &out)
}
