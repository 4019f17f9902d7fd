package node_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/store"
)

// TestErrorKinds: the kind of an error survives wrapping, the sentinels of
// other packages that the node passes on have theirs, and each kind's
// HTTP status reads back as that kind.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		kind node.Kind
	}{
		{node.ErrNoSuchGroup, node.KindNotFound},
		{fmt.Errorf("escalation group: %w", node.ErrNoSuchGroup), node.KindNotFound},
		{errors.Join(errors.New("first"), node.ErrNotAdmin), node.KindForbidden},
		{node.ErrLastAdmin, node.KindConflict},
		{node.ErrUnreachable, node.KindUnavailable},
		{fmt.Errorf("%w: 3 bytes free", store.ErrDiskFull), node.KindUnavailable},
		{fmt.Errorf("reading: %w", alert.ErrUnknownKind), node.KindInvalid},
		{crypto.ErrWrongPassphrase, node.KindForbidden},
		{node.Errorf(node.KindConflict, "wrapping %w", node.ErrNoSuchGroup), node.KindConflict},
		{errors.New("something broke"), node.KindInternal},
	} {
		if got := node.KindOf(tc.err); got != tc.kind {
			t.Errorf("KindOf(%q) = %v, want %v", tc.err, got, tc.kind)
		}
	}
	for k := node.KindInternal; k <= node.KindUnavailable; k++ {
		if got := node.KindForStatus(k.HTTPStatus()); got != k {
			t.Errorf("%v: status %d reads back as %v", k, k.HTTPStatus(), got)
		}
		if k != node.KindInternal && (k.ExitCode() <= 1 || k.HTTPStatus() < 400 || k.HTTPStatus() >= 500 && k != node.KindUnavailable) {
			t.Errorf("%v: exit %d, status %d", k, k.ExitCode(), k.HTTPStatus())
		}
	}
	for status, k := range map[int]node.Kind{401: node.KindForbidden, 429: node.KindUnavailable, 502: node.KindUnavailable, 507: node.KindUnavailable, 418: node.KindInvalid} {
		if got := node.KindForStatus(status); got != k {
			t.Errorf("KindForStatus(%d) = %v, want %v", status, got, k)
		}
	}
}

// TestSentinelsHaveKinds: every exported sentinel of node and node/api is
// made with node.NewError, so that none reaches a caller without a kind
// (errors.New would make it internal).
func TestSentinelsHaveKinds(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{".", "api"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(af, func(n ast.Node) bool {
				vs, ok := n.(*ast.ValueSpec)
				if !ok {
					return true
				}
				for i, name := range vs.Names {
					if !name.IsExported() || len(name.Name) < 4 || name.Name[:3] != "Err" || i >= len(vs.Values) {
						continue
					}
					var fn string
					if call, ok := vs.Values[i].(*ast.CallExpr); ok {
						switch f := call.Fun.(type) {
						case *ast.Ident:
							fn = f.Name
						case *ast.SelectorExpr:
							fn = f.Sel.Name
						}
					}
					if fn != "NewError" {
						t.Errorf("%s: %s is not made with NewError", fset.Position(name.Pos()), name.Name)
					}
				}
				return true
			})
		}
	}
}
