package main

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"strings"
)

// ioFuncs are the calls that reach the disk or the network, by package
// path and function or method name ("" for every function of the
// package).
var ioFuncs = map[string][]string{
	"github.com/takecare-network/takecare/store": {"Put", "PutBatch", "PutAlias", "Delete", "Prune", "PutBlob", "PutBlobs", "DeleteBlob", "RewriteKeep",
		"Blobs", "Envelope", "EnvelopeIn", "Retry", "Close", "Open", "Repair", "Wipe"},
	"go.etcd.io/bbolt":                               {"Update", "View", "Batch", "Open", "Close", "Sync"},
	"github.com/libp2p/go-libp2p-pubsub":             {"Publish", "Join", "Subscribe", "RegisterTopicValidator", "UnregisterTopicValidator", "Relay"},
	"github.com/libp2p/go-libp2p/core/host":          {"Connect", "NewStream"},
	"github.com/libp2p/go-libp2p/core/network":       {"DialPeer", "ClosePeer", "NewStream", "Read", "Write", "Close", "CloseWrite", "Reset"},
	"github.com/libp2p/go-libp2p/p2p/protocol/ping":  {"Ping"},
	"google.golang.org/protobuf/encoding/protodelim": {"MarshalTo", "UnmarshalFrom"},
	"os":       {"WriteFile", "ReadFile", "Rename", "OpenFile", "Create", "Remove", "RemoveAll", "Write", "Sync", "ReadDir"},
	"net":      {"Dial", "DialTimeout", "Listen"},
	"net/http": {"Do", "Get", "Post"},
	"github.com/takecare-network/takecare/crypto":               {"WriteKeystore", "ReadKeystore", "DestroyKeystore"},
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns":            {""},
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client": {"Reserve"},
}

// callee returns the function or method a call calls, if static.
func callee(info *types.Info, c *ast.CallExpr) *types.Func {
	fun := ast.Unparen(c.Fun)
	if ix, ok := fun.(*ast.IndexExpr); ok {
		fun = ix.X
	}
	var id *ast.Ident
	switch f := fun.(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	default:
		return nil
	}
	fn, _ := info.Uses[id].(*types.Func)
	return fn
}

// key names a function the same way from source and from export data.
func key(fn *types.Func) string { return fn.Origin().FullName() }

// listedIO reports whether fn is one of ioFuncs.
func listedIO(fn *types.Func) bool {
	if fn.Pkg() == nil {
		return false
	}
	for _, name := range ioFuncs[fn.Pkg().Path()] {
		if name == "" || name == fn.Name() {
			return true
		}
	}
	return false
}

// bodyCalls calls visit for every call in body, function literals
// included, except those started with go.
func bodyCalls(body ast.Node, visit func(*ast.CallExpr)) {
	ast.Inspect(body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.GoStmt:
			return false
		case *ast.CallExpr:
			visit(x)
		}
		return true
	})
}

// doesIO returns the functions of pkgs that reach ioFuncs, directly or
// through each other (a fixed point over the static call graph).
func doesIO(pkgs []*pkg) map[string]bool {
	calls := make(map[string][]string)
	io := make(map[string]bool)
	for _, p := range pkgs {
		for _, f := range p.files {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				self, _ := p.info.Defs[fd.Name].(*types.Func)
				if self == nil {
					continue
				}
				k := key(self)
				bodyCalls(fd.Body, func(c *ast.CallExpr) {
					if fn := callee(p.info, c); fn != nil {
						if listedIO(fn) {
							io[k] = true
						}
						calls[k] = append(calls[k], key(fn))
					}
				})
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for f, cs := range calls {
			if io[f] {
				continue
			}
			for _, c := range cs {
				if io[c] {
					io[f], changed = true, true
					break
				}
			}
		}
	}
	return io
}

// lockedIO reports the calls that do I/O while a lock is held, and the
// locks taken while another is held in the same function ("A, then B").
func lockedIO(fset *token.FileSet, pkgs []*pkg) (out, nested []string) {
	io := doesIO(pkgs)
	for _, p := range pkgs {
		for i, f := range p.files {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				w := &lockWalker{info: p.info, io: io}
				w.block(fd.Body.List)
				for _, fi := range w.found {
					out = append(out, fmt.Sprintf("%s:%d %s: %s", p.names[i], fset.Position(fi.pos).Line, funcName(fd), fi.what))
				}
				for _, fi := range w.nested {
					nested = append(nested, fmt.Sprintf("%s:%d %s: %s", p.names[i], fset.Position(fi.pos).Line, funcName(fd), fi.what))
				}
			}
		}
	}
	return out, nested
}

type finding struct {
	pos  token.Pos
	what string
}

// lockWalker follows one function body in source order with the locks
// taken so far.
type lockWalker struct {
	info   *types.Info
	io     map[string]bool
	held   []string // the mutexes, as written, in the order taken
	found  []finding
	nested []finding
}

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(x.X)
	case *ast.IndexExpr:
		return exprString(x.X) + "[]"
	case *ast.CallExpr:
		return exprString(x.Fun) + "()"
	case *ast.ParenExpr:
		return exprString(x.X)
	}
	return "?"
}

// lockOp returns "lock" or "unlock" and the mutex, for the methods of
// sync.Mutex and sync.RWMutex.
func (w *lockWalker) lockOp(c *ast.CallExpr) (string, string) {
	sel, ok := ast.Unparen(c.Fun).(*ast.SelectorExpr)
	if !ok {
		return "", ""
	}
	fn := callee(w.info, c)
	if fn == nil || fn.Pkg() == nil || fn.Pkg().Path() != "sync" {
		return "", ""
	}
	switch fn.Name() {
	case "Lock", "RLock":
		return "lock", exprString(sel.X)
	case "Unlock", "RUnlock":
		return "unlock", exprString(sel.X)
	}
	return "", ""
}

func (w *lockWalker) block(stmts []ast.Stmt) {
	for _, s := range stmts {
		w.stmt(s)
	}
}

func (w *lockWalker) stmt(s ast.Stmt) {
	switch x := s.(type) {
	case *ast.DeferStmt:
		if op, _ := w.lockOp(x.Call); op != "unlock" {
			w.expr(x.Call)
		}
	case *ast.GoStmt:
		// Runs on its own goroutine, without the caller's locks.
	case *ast.BlockStmt:
		w.block(x.List)
	case *ast.IfStmt:
		w.ifStmt(x)
	case *ast.ForStmt:
		if x.Init != nil {
			w.stmt(x.Init)
		}
		w.block(x.Body.List)
	case *ast.RangeStmt:
		w.expr(x.X)
		w.block(x.Body.List)
	case *ast.SwitchStmt:
		if x.Init != nil {
			w.stmt(x.Init)
		}
		if x.Tag != nil {
			w.expr(x.Tag)
		}
		w.cases(x.Body)
	case *ast.TypeSwitchStmt:
		w.cases(x.Body)
	case *ast.SelectStmt:
		w.cases(x.Body)
	case *ast.LabeledStmt:
		w.stmt(x.Stmt)
	default:
		ast.Inspect(s, func(n ast.Node) bool {
			if e, ok := n.(ast.Expr); ok {
				w.expr(e)
				return false
			}
			return true
		})
	}
}

// ifStmt reads both branches. A lock released in a branch that goes on
// counts as released after the if; one released before an early return
// is still held after it.
func (w *lockWalker) ifStmt(x *ast.IfStmt) {
	if x.Init != nil {
		w.stmt(x.Init)
	}
	w.expr(x.Cond)
	before := append([]string(nil), w.held...)
	w.block(x.Body.List)
	then := w.held
	if returns(x.Body) {
		then = before
	}
	w.held = append([]string(nil), before...)
	if x.Else != nil {
		w.stmt(x.Else)
	}
	if len(then) < len(w.held) {
		w.held = then
	}
}

// returns reports whether a block ends in a return (or panic, continue,
// break, goto).
func returns(b *ast.BlockStmt) bool {
	if len(b.List) == 0 {
		return false
	}
	switch x := b.List[len(b.List)-1].(type) {
	case *ast.ReturnStmt, *ast.BranchStmt:
		return true
	case *ast.ExprStmt:
		if c, ok := x.X.(*ast.CallExpr); ok {
			if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "panic" {
				return true
			}
		}
	}
	return false
}

func (w *lockWalker) cases(body *ast.BlockStmt) {
	before := append([]string(nil), w.held...)
	for _, c := range body.List {
		w.held = append([]string(nil), before...)
		switch cc := c.(type) {
		case *ast.CaseClause:
			w.block(cc.Body)
		case *ast.CommClause:
			if cc.Comm != nil {
				w.stmt(cc.Comm)
			}
			w.block(cc.Body)
		}
	}
	w.held = before
}

func (w *lockWalker) expr(e ast.Expr) {
	ast.Inspect(e, func(n ast.Node) bool {
		if fl, ok := n.(*ast.FuncLit); ok {
			// A function literal runs later or elsewhere: its body is
			// read on its own, with no lock held (a call that runs it at
			// once under a lock is itself checked above).
			inner := &lockWalker{info: w.info, io: w.io}
			inner.block(fl.Body.List)
			w.found = append(w.found, inner.found...)
			w.nested = append(w.nested, inner.nested...)
			return false
		}
		c, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		switch op, mu := w.lockOp(c); op {
		case "lock":
			if len(w.held) > 0 {
				w.nested = append(w.nested, finding{c.Pos(), strings.Join(w.held, ", ") + ", then " + mu})
			}
			w.held = append(w.held, mu)
			return true
		case "unlock":
			for i := len(w.held) - 1; i >= 0; i-- {
				if w.held[i] == mu {
					w.held = append(w.held[:i:i], w.held[i+1:]...)
					break
				}
			}
			return true
		}
		if len(w.held) == 0 {
			return true
		}
		if fn := callee(w.info, c); fn != nil && (listedIO(fn) || w.io[key(fn)]) {
			w.found = append(w.found, finding{c.Pos(), fmt.Sprintf("%s() under %s", exprString(c.Fun), strings.Join(w.held, ", "))})
		}
		return true
	})
}
