package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// node is a step for graph tests: a Callback step (which has properties other steps can
// read), or a Condition step when it has branches.
type node struct {
	name      string
	deps      []string // DependsOn
	reads     []string // steps whose OutputParameters['out'] it reads
	ifSteps   []node
	elseSteps []node
}

func (n node) json() map[string]any {
	if n.ifSteps != nil || n.elseSteps != nil {
		var ifs, elses []any
		for _, c := range n.ifSteps {
			ifs = append(ifs, c.json())
		}
		for _, c := range n.elseSteps {
			elses = append(elses, c.json())
		}
		var conds []any
		for _, r := range n.reads {
			conds = append(conds, map[string]any{"Type": "Equals", "LeftValue": map[string]any{"Get": "Steps." + r + ".OutputParameters['out']"}, "RightValue": "yes"})
		}
		s := map[string]any{"Name": n.name, "Type": "Condition", "Arguments": map[string]any{"Conditions": append([]any{}, conds...), "IfSteps": append([]any{}, ifs...), "ElseSteps": append([]any{}, elses...)}}
		if n.deps != nil {
			s["DependsOn"] = n.deps
		}
		return s
	}
	args := map[string]any{}
	for _, r := range n.reads {
		args["from_"+r] = map[string]any{"Get": "Steps." + r + ".OutputParameters['out']"}
	}
	s := map[string]any{
		"Name": n.name, "Type": "Callback", "SqsQueueUrl": "https://sqs.local/q",
		"OutputParameters": []any{map[string]any{"OutputName": "out", "OutputType": "String"}},
		"Arguments":        args,
	}
	if n.deps != nil {
		s["DependsOn"] = n.deps
	}
	return s
}

func parseNodes(t *testing.T, nodes ...node) (*Definition, error) {
	t.Helper()
	steps := make([]any, len(nodes))
	for i, n := range nodes {
		steps[i] = n.json()
	}
	data, err := json.Marshal(map[string]any{"Version": Version, "Steps": steps})
	if err != nil {
		t.Fatal(err)
	}
	return Parse(data)
}

func TestCycleDetection(t *testing.T) {
	tests := []struct {
		name  string
		nodes []node
		want  []string // one message per cycle
	}{
		{name: "self loop by DependsOn", nodes: []node{{name: "A", deps: []string{"A"}}},
			want: []string{`step "A": dependency cycle: A -> A`}},
		{name: "two steps by data", nodes: []node{{name: "A", reads: []string{"B"}}, {name: "B", reads: []string{"A"}}},
			want: []string{`step "A": dependency cycle: A -> B -> A`}},
		{name: "mixed edges, shortest cycle named", nodes: []node{
			{name: "A", deps: []string{"D"}}, {name: "B", reads: []string{"A"}}, {name: "C", deps: []string{"B"}},
			{name: "D", deps: []string{"C", "B"}}},
			want: []string{`step "A": dependency cycle: A -> B -> D -> A`}},
		{name: "two separate cycles", nodes: []node{
			{name: "X"}, {name: "A", deps: []string{"B"}}, {name: "B", deps: []string{"A"}},
			{name: "C", reads: []string{"E"}}, {name: "E", deps: []string{"C"}}, {name: "Y", deps: []string{"X", "C"}}},
			want: []string{`step "A": dependency cycle: A -> B -> A`, `step "C": dependency cycle: C -> E -> C`}},
		{name: "through a condition branch", nodes: []node{
			{name: "Gate", reads: []string{"Late"}, ifSteps: []node{{name: "InBranch"}}},
			{name: "Late", deps: []string{"InBranch"}}},
			want: []string{`step "Gate": dependency cycle: Gate -> InBranch -> Late -> Gate`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseNodes(t, tt.nodes...)
			var verrs ValidationErrors
			if !errors.As(err, &verrs) {
				t.Fatalf("error = %v, want ValidationErrors", err)
			}
			var got []string
			for _, e := range verrs {
				if strings.Contains(e.Msg, "cycle") {
					got = append(got, e.Error())
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("cycles = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAcyclicDiamond(t *testing.T) {
	d, err := parseNodes(t,
		node{name: "Join", reads: []string{"Left", "Right"}},
		node{name: "Left", deps: []string{"Root"}},
		node{name: "Right", reads: []string{"Root"}},
		node{name: "Root"},
	)
	if err != nil {
		t.Fatal(err)
	}
	g := d.Graph()
	if got := strings.Join(g.Order(), " "); got != "Root Left Right Join" {
		t.Errorf("Order = %s", got)
	}
	if got := g.Upstream("Join"); !slices.Equal(got, []string{"Left", "Right"}) {
		t.Errorf("Upstream(Join) = %v", got)
	}
	if got := g.Downstream("Root"); !slices.Equal(got, []string{"Left", "Right"}) {
		t.Errorf("Downstream(Root) = %v", got)
	}
	if k := g.EdgeKind("Root", "Left"); k != EdgeDependsOn {
		t.Errorf("EdgeKind(Root, Left) = %v", k)
	}
	if k := g.EdgeKind("Root", "Right"); k != EdgeData {
		t.Errorf("EdgeKind(Root, Right) = %v", k)
	}
	if k := g.EdgeKind("Join", "Root"); k != 0 {
		t.Errorf("EdgeKind(Join, Root) = %v, want none", k)
	}
	if n := len(g.Edges()); n != 4 {
		t.Errorf("%d edges, want 4", n)
	}
}

func TestBranchSets(t *testing.T) {
	d, err := parseNodes(t,
		node{name: "Eval"},
		node{name: "Gate", reads: []string{"Eval"},
			ifSteps: []node{
				{name: "Register"},
				{name: "Inner", reads: []string{"Register"},
					ifSteps:   []node{{name: "Deploy"}},
					elseSteps: []node{{name: "Alert"}}},
			},
			elseSteps: []node{{name: "Fail"}},
		},
		node{name: "Notify", reads: []string{"Deploy"}},       // top level, downstream of a branch
		node{name: "Report", deps: []string{"Gate"}},          // after the condition itself: always runs
		node{name: "Cleanup", deps: []string{"Fail", "Eval"}}, // downstream of the else branch
	)
	if err != nil {
		t.Fatal(err)
	}
	g := d.Graph()
	tests := []struct {
		cond    string
		outcome bool
		want    []string
	}{
		{"Gate", true, []string{"Register", "Inner", "Deploy", "Alert", "Notify"}},
		{"Gate", false, []string{"Fail", "Cleanup"}},
		{"Inner", true, []string{"Deploy", "Notify"}},
		{"Inner", false, []string{"Alert"}},
		{"Eval", true, nil}, // not a condition
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s=%v", tt.cond, tt.outcome), func(t *testing.T) {
			if got := g.BranchSteps(tt.cond, tt.outcome); !slices.Equal(got, tt.want) {
				t.Errorf("BranchSteps = %v, want %v", got, tt.want)
			}
			if got := g.SkippedBy(tt.cond, !tt.outcome); !slices.Equal(got, tt.want) {
				t.Errorf("SkippedBy(!outcome) = %v, want %v", got, tt.want)
			}
		})
	}
	for _, name := range []string{"Eval", "Gate", "Report"} {
		for _, outcome := range []bool{true, false} {
			if slices.Contains(g.SkippedBy("Gate", outcome), name) {
				t.Errorf("%s is skipped when Gate is %v", name, outcome)
			}
		}
	}
	if s, _ := d.Step("Deploy"); s.Parent != "Inner" || s.Branch != BranchIf {
		t.Errorf("Deploy parent = %q %q", s.Parent, s.Branch)
	}
	if n := len(d.AllSteps()); n != 10 {
		t.Errorf("AllSteps has %d steps, want 10", n)
	}
}

func TestGraphOrderIsStable(t *testing.T) {
	d := parseFixture(t, "all-step-types.good.json")
	first := d.Graph().Order()
	for range 20 {
		d2 := parseFixture(t, "all-step-types.good.json")
		if got := d2.Graph().Order(); !slices.Equal(got, first) {
			t.Fatalf("order changed between parses: %v vs %v", got, first)
		}
	}
	pos := map[string]int{}
	for i, n := range first {
		pos[n] = i
	}
	for _, e := range d.Graph().Edges() {
		if pos[e.From] >= pos[e.To] {
			t.Errorf("edge %s -> %s goes backwards in %v", e.From, e.To, first)
		}
	}
}
