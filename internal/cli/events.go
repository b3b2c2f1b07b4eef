package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() { addCommands(newEventsCmds) }

// eventEnvelope is an event as the native API returns it (EventBridge's envelope plus the cursor).
type eventEnvelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
	Cursor     int64           `json:"cursor"`
}

type eventPage struct {
	Events []eventEnvelope `json:"events"`
	Next   int64           `json:"next"`
}

func newEventsCmds(g *globals) []*cobra.Command {
	var (
		after  int64
		limit  int
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Print the event log (approvals, state changes); --follow streams new events",
		Long: `Print the server's event log: every state change it announced, in order, in EventBridge's shape
(e.g. "SageMaker Model Package State Change" when a model version is registered or approved).
Each event has a cursor; --after CURSOR starts after it. --follow keeps printing new events as they
happen. With --output json each event is one JSON object per line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.connect(ctx)
			if err != nil {
				return err
			}
			if g.output != "table" && g.output != "json" && g.output != "" {
				return fmt.Errorf("--output %q: expected table or json", g.output)
			}
			p := newEventPrinter(g)
			if follow {
				return followEvents(ctx, c, after, p)
			}
			printed := 0
			for {
				page := eventPage{}
				n := 1000
				if limit > 0 && limit-printed < n {
					n = limit - printed
				}
				if err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/events?after=%d&limit=%d", after, n), nil, &page); err != nil {
					return err
				}
				for _, ev := range page.Events {
					if err := p.print(ev); err != nil {
						return err
					}
				}
				printed += len(page.Events)
				after = page.Next
				if len(page.Events) < n || (limit > 0 && printed >= limit) {
					break
				}
			}
			return p.done()
		},
	}
	cmd.Flags().Int64Var(&after, "after", 0, "print events after this cursor")
	cmd.Flags().IntVar(&limit, "limit", 0, "print at most this many events (0: all)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	return []*cobra.Command{cmd}
}

// followEvents reads the server-sent event stream and prints each event as it arrives. It ends
// without error when ctx is cancelled (Ctrl-C).
func followEvents(ctx context.Context, c *conn, after int64, p *eventPrinter) error {
	resp, err := c.send(ctx, "GET", fmt.Sprintf("/api/v1/events/stream?after=%d", after), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev eventEnvelope
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		if err := p.print(ev); err != nil {
			return err
		}
	}
	err = sc.Err()
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("the server closed the event stream")
	}
	return fmt.Errorf("event stream: %w", err)
}

// eventPrinter prints events one at a time, so a followed stream shows each event at once.
type eventPrinter struct {
	g      *globals
	out    io.Writer
	header bool
}

func newEventPrinter(g *globals) *eventPrinter { return &eventPrinter{g: g, out: g.stdout} }

const eventRowFormat = "%-8s %-20s %-40s %-32s %s\n"

func (p *eventPrinter) print(ev eventEnvelope) error {
	if p.g.output == "json" {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.out, "%s\n", b)
		return err
	}
	if !p.header {
		fmt.Fprintf(p.out, eventRowFormat, "CURSOR", "TIME", "TYPE", "RESOURCE", "CHANGE")
		p.header = true
	}
	t := ev.Time
	if parsed, err := time.Parse(time.RFC3339, ev.Time); err == nil {
		t = parsed.Local().Format("2006-01-02 15:04:05")
	}
	_, err := fmt.Fprintf(p.out, eventRowFormat, fmt.Sprint(ev.Cursor), t, ev.DetailType, eventResource(ev), eventChange(ev.Detail))
	return err
}

func (p *eventPrinter) done() error {
	if !p.header && p.g.output != "json" {
		fmt.Fprintln(p.g.stderr, "No events.")
	}
	return nil
}

// eventResource names the resource briefly: GROUP/VERSION for a model version, else the ARN's
// resource part.
func eventResource(ev eventEnvelope) string {
	var d struct {
		ModelPackageGroupName string
		ModelPackageVersion   int
	}
	json.Unmarshal(ev.Detail, &d)
	if d.ModelPackageGroupName != "" && d.ModelPackageVersion > 0 {
		return fmt.Sprintf("%s/%d", d.ModelPackageGroupName, d.ModelPackageVersion)
	}
	if len(ev.Resources) == 0 {
		return "-"
	}
	r := ev.Resources[0]
	if parts := strings.SplitN(r, ":", 6); len(parts) == 6 {
		return parts[5]
	}
	return r
}

// eventChange summarises what changed, from the status fields SageMaker's events carry.
func eventChange(detail json.RawMessage) string {
	var d map[string]any
	if json.Unmarshal(detail, &d) != nil {
		return ""
	}
	str := func(k string) string { s, _ := d[k].(string); return s }
	if st := str("ModelApprovalStatus"); st != "" {
		change := st
		if prev := str("PreviousModelApprovalStatus"); prev != "" && prev != st {
			change = prev + " -> " + st
		}
		if str("ModelPackageStatus") == "Deleting" {
			change = "deleted (was " + st + ")"
		}
		if note := str("ApprovalDescription"); note != "" {
			change += fmt.Sprintf(" %q", note)
		}
		return change
	}
	for _, k := range []string{"currentPipelineExecutionStatus", "currentStepStatus", "EndpointStatus", "TrainingJobStatus", "ProcessingJobStatus", "TransformJobStatus"} {
		if s := str(k); s != "" {
			return s
		}
	}
	return ""
}
