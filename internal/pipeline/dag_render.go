package pipeline

import (
	"fmt"
	"strconv"
	"strings"
)

// Text renders the graph for people (`sluice pipelines graph`): the steps in run order, each
// with the steps it runs after and why, and for Condition steps the steps of each branch.
//
//	TrainAbaloneModel (Training)
//	    after PreprocessAbaloneData [data]
//	AbaloneMSECond (Condition)
//	    after EvaluateAbaloneModel [data]
//	    if true:  RegisterAbaloneModel-RegisterModel, AbaloneTransform
//	    if false: AbaloneMSEFail
func (g *Graph) Text() string {
	var b strings.Builder
	for _, i := range g.order {
		s := g.steps[i]
		fmt.Fprintf(&b, "%s (%s)", s.Name, s.Type)
		if s.DisplayName != "" && s.DisplayName != s.Name {
			fmt.Fprintf(&b, " %q", s.DisplayName)
		}
		b.WriteByte('\n')
		for _, p := range g.pred[i] {
			fmt.Fprintf(&b, "    after %s [%s]\n", g.steps[p].Name, g.kind[[2]int{p, i}])
		}
		if s.Type == StepCondition {
			sets := g.branch[i]
			fmt.Fprintf(&b, "    if true:  %s\n", nameListOrNone(g.names(sets[0])))
			fmt.Fprintf(&b, "    if false: %s\n", nameListOrNone(g.names(sets[1])))
		}
	}
	return b.String()
}

func nameListOrNone(names []string) string {
	if len(names) == 0 {
		return "(nothing)"
	}
	return strings.Join(names, ", ")
}

// DOT renders the graph in Graphviz DOT, named name. Condition steps are diamonds, Fail steps
// are red; data edges are solid, DependsOn-only edges dashed, and branch edges are labelled
// "if" or "else". Steps are emitted in run order so the output is stable.
func (g *Graph) DOT(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", strconv.Quote(name))
	b.WriteString("\trankdir=LR;\n")
	b.WriteString("\tnode [shape=box, style=rounded, fontname=\"Helvetica\"];\n")
	for _, i := range g.order {
		s := g.steps[i]
		attrs := []string{"label=" + strconv.Quote(s.Name+"\n"+string(s.Type))}
		switch s.Type {
		case StepCondition:
			attrs = append(attrs, "shape=diamond", "style=solid")
		case StepFail:
			attrs = append(attrs, "color=red", "fontcolor=red")
		}
		fmt.Fprintf(&b, "\t%s [%s];\n", strconv.Quote(s.Name), strings.Join(attrs, ", "))
	}
	for _, i := range g.order {
		for _, j := range g.succ[i] {
			k := g.kind[[2]int{i, j}]
			var attrs []string
			switch {
			case k&EdgeIf != 0:
				attrs = append(attrs, `label="if"`, "color=darkgreen")
			case k&EdgeElse != 0:
				attrs = append(attrs, `label="else"`, "color=firebrick")
			case k == EdgeDependsOn:
				attrs = append(attrs, "style=dashed")
			}
			fmt.Fprintf(&b, "\t%s -> %s", strconv.Quote(g.steps[i].Name), strconv.Quote(g.steps[j].Name))
			if len(attrs) > 0 {
				fmt.Fprintf(&b, " [%s]", strings.Join(attrs, ", "))
			}
			b.WriteString(";\n")
		}
	}
	b.WriteString("}\n")
	return b.String()
}
