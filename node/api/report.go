package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/report"
)

// Public counts (node/report), for the group's admins:
//
//	GET /v1/groups/{group}/report?since=RFC3339&by=month,kind,region&min=N&format=json|csv|svg
//
// format json (the default) answers report.Report; csv and svg answer the
// table and the chart to publish. Months are cut in UTC.

func (s *Server) routeReport() {
	s.mux.HandleFunc("GET /v1/groups/{group}/report", s.report)
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	gid, ok := s.group(w, r)
	if !ok {
		return
	}
	var info node.GroupInfo
	for _, g := range s.n.Groups() {
		if g.ID == gid.String() {
			info = g
		}
	}
	if info.Role != "admin" {
		s.fail(w, fmt.Errorf("%w: only an admin decides what of the group is published", node.ErrNotAdmin))
		return
	}
	q := r.URL.Query()
	opt := report.Options{}
	var err error
	if v := q.Get("since"); v != "" {
		if opt.Since, err = time.Parse(time.RFC3339, v); err != nil {
			s.fail(w, fmt.Errorf("%w: since must be an RFC 3339 time", errBadRequest))
			return
		}
	}
	if v := q.Get("by"); v != "" {
		if opt.By, err = report.ParseBy(v); err != nil {
			s.fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
			return
		}
	}
	if v := q.Get("min"); v != "" {
		if opt.Threshold, err = strconv.Atoi(v); err != nil {
			s.fail(w, fmt.Errorf("%w: min must be a whole number", errBadRequest))
			return
		}
	}
	entries, err := s.n.Feed(node.FeedQuery{Group: gid, Since: opt.Since})
	if err != nil {
		s.fail(w, err)
		return
	}
	rep, err := report.Make(info.Name, entries, opt, time.Now())
	if err != nil {
		s.fail(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	switch q.Get("format") {
	case "", "json":
		writeJSON(w, rep)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		rep.WriteCSV(w)
	case "svg":
		w.Header().Set("Content-Type", "image/svg+xml")
		rep.WriteSVG(w)
	default:
		s.fail(w, fmt.Errorf("%w: format must be json, csv or svg", errBadRequest))
	}
}
