package workflows_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"fbchannel/activities"
	"fbchannel/workflows"
)

// The workflows call activities by name and the worker registers *activities.Activities
// under its method names: a renamed method or constant would only show when a
// workflow first runs that activity. These tests make it a test failure instead.

func TestEveryActivityNameIsAMethodOfActivities(t *testing.T) {
	typ := reflect.TypeOf(&activities.Activities{})
	for _, name := range workflows.ActivityNames {
		if _, ok := typ.MethodByName(name); !ok {
			t.Errorf("workflows.ActivityNames has %q, but *activities.Activities has no such method", name)
		}
	}
}

// Every Activity... name constant of package workflows is in ActivityNames, so the
// test above covers it.
func TestEveryActivityConstantIsListed(t *testing.T) {
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	found := 0
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for name, value := range activityConstants(file) {
			found++
			if !slices.Contains(workflows.ActivityNames, value) {
				t.Errorf("%s: constant %s = %q is missing from workflows.ActivityNames", path, name, value)
			}
		}
	}
	if found < len(workflows.ActivityNames) {
		t.Errorf("found %d Activity constants, fewer than the %d names listed: is the parse looking at the right files?", found, len(workflows.ActivityNames))
	}
}

// activityConstants maps each string constant named Activity... to its value.
func activityConstants(file *ast.File) map[string]string {
	out := map[string]string{}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, id := range vs.Names {
				if !strings.HasPrefix(id.Name, "Activity") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					out[id.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return out
}
