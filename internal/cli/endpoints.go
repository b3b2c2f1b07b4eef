package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"
	"github.com/spf13/cobra"
)

func init() { addCommands(newEndpointsCmds) }

// The endpoints commands drive hosting through SageMaker's API and invoke endpoints through the
// runtime API, as boto3 would.
func newEndpointsCmds(g *globals) []*cobra.Command {
	cmd := &cobra.Command{
		Use:     "endpoints",
		Aliases: []string{"endpoint"},
		Short:   "Real-time endpoints: create, list, describe, invoke, update safely, watch and delete",
	}
	cmd.AddCommand(newEndpointsCreateCmd(g), newEndpointsListCmd(g), newEndpointsDescribeCmd(g), newEndpointsDeleteCmd(g), newEndpointsInvokeCmd(g),
		newEndpointsUpdateCmd(g), newEndpointsHistoryCmd(g), newEndpointsWatchCmd(g))
	return []*cobra.Command{cmd, newDeployCmd(g)}
}

// runtimeClient returns a sagemaker-runtime client for the server.
func (g *globals) runtime(ctx context.Context) (*sagemakerruntime.Client, error) {
	c, err := g.connect(ctx)
	if err != nil {
		return nil, err
	}
	return sagemakerruntime.NewFromConfig(c.aws, func(o *sagemakerruntime.Options) {
		o.BaseEndpoint = aws.String(c.endpoint)
	}), nil
}

// waitEndpoint polls until the endpoint leaves Creating/Updating, or is gone when gone is set,
// printing status changes to stderr.
func (g *globals) waitEndpoint(ctx context.Context, c *sagemaker.Client, name string, timeout time.Duration, gone bool) (*sagemaker.DescribeEndpointOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := types.EndpointStatus("")
	for {
		out, err := c.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(name)})
		if gone && apiErrorCode(err) == "ValidationException" {
			return nil, nil
		}
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("endpoint %s: still %s after %s", name, last, timeout)
			}
			return nil, err
		}
		if out.EndpointStatus != last {
			fmt.Fprintf(g.stderr, "%s: %s\n", name, out.EndpointStatus)
			last = out.EndpointStatus
		}
		switch out.EndpointStatus {
		case types.EndpointStatusInService:
			if !gone {
				if out.FailureReason != nil {
					return out, fmt.Errorf("endpoint %s: the update failed and the endpoint kept its previous deployment: %s", name, aws.ToString(out.FailureReason))
				}
				return out, nil
			}
		case types.EndpointStatusFailed:
			if !gone {
				return out, fmt.Errorf("endpoint %s failed: %s", name, aws.ToString(out.FailureReason))
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("endpoint %s: still %s after %s", name, last, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func apiErrorCode(err error) string {
	if err == nil {
		return ""
	}
	code, _, _ := strings.Cut(apiErrorMessage(err), ":")
	return code
}

func newEndpointsCreateCmd(g *globals) *cobra.Command {
	var (
		config, model, variant, instanceType string
		instances                            int32
		wait                                 bool
		timeout                              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create NAME (--config CONFIG | --model MODEL)",
		Short: "Create an endpoint from an endpoint config, or from one model with a config made for it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			if (config == "") == (model == "") {
				return errors.New("give exactly one of --config CONFIG or --model MODEL")
			}
			c, err := g.sm(ctx)
			if err != nil {
				return err
			}
			if model != "" {
				config = fmt.Sprintf("%s-%d-%04x", truncateName(name, 40), time.Now().Unix(), rand.IntN(1<<16))
				if _, err := c.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{EndpointConfigName: aws.String(config),
					ProductionVariants: []types.ProductionVariant{{VariantName: aws.String(variant), ModelName: aws.String(model),
						InitialInstanceCount: aws.Int32(instances), InstanceType: types.ProductionVariantInstanceType(instanceType)}}}); err != nil {
					return err
				}
			}
			out, err := c.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String(name), EndpointConfigName: aws.String(config)})
			if err != nil {
				return err
			}
			if wait {
				if _, err := g.waitEndpoint(ctx, c, name, timeout, false); err != nil {
					return err
				}
			}
			return g.emit(map[string]string{"EndpointArn": aws.ToString(out.EndpointArn), "EndpointConfigName": config}, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, aws.ToString(out.EndpointArn))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "endpoint config to run")
	f.StringVar(&model, "model", "", "model to serve: creates a one-variant endpoint config for it")
	f.StringVar(&variant, "variant", "AllTraffic", "variant name (with --model)")
	f.Int32Var(&instances, "instance-count", 1, "replicas of the model (with --model)")
	f.StringVar(&instanceType, "instance-type", "ml.m5.large", "instance type, recorded (with --model)")
	f.BoolVar(&wait, "wait", true, "wait until the endpoint is InService")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait")
	return cmd
}

func truncateName(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimRight(s[:n], "-")
}

func newEndpointsListCmd(g *globals) *cobra.Command {
	var status, nameContains string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List endpoints, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			in := &sagemaker.ListEndpointsInput{MaxResults: aws.Int32(100), StatusEquals: types.EndpointStatus(status)}
			if nameContains != "" {
				in.NameContains = aws.String(nameContains)
			}
			var all []types.EndpointSummary
			p := sagemaker.NewListEndpointsPaginator(c, in)
			for p.HasMorePages() {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				all = append(all, page.Endpoints...)
			}
			return g.emit(clean(map[string]any{"Endpoints": all}), func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tSTATUS\tCREATED\tLAST MODIFIED")
				for _, e := range all {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", aws.ToString(e.EndpointName), e.EndpointStatus, fmtTime(e.CreationTime), fmtTime(e.LastModifiedTime))
				}
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only endpoints in this status (InService, Creating, Failed, …)")
	cmd.Flags().StringVar(&nameContains, "name-contains", "", "only endpoints whose name contains this")
	return cmd
}

// endpointMetrics is the native API's per-variant metrics document.
type endpointMetrics struct {
	Variants []struct {
		VariantName                                           string
		Invocations, Invocation4XXErrors, Invocation5XXErrors uint64
		ModelLatency, OverheadLatency                         struct {
			Count                uint64
			P50Micros, P99Micros float64
		}
	}
}

func newEndpointsDescribeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show an endpoint: status, config, variants with weights and instances, and traffic metrics",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			conn, err := g.connect(ctx)
			if err != nil {
				return err
			}
			d, err := conn.sagemaker().DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(args[0])})
			if err != nil {
				return err
			}
			var m endpointMetrics
			merr := conn.do(ctx, "GET", "/api/v1/endpoints/"+url.PathEscape(args[0])+"/metrics", nil, &m)
			return g.emit(clean(d), func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Endpoint:\t%s\n", aws.ToString(d.EndpointName))
				fmt.Fprintf(w, "ARN:\t%s\n", aws.ToString(d.EndpointArn))
				fmt.Fprintf(w, "Status:\t%s\n", d.EndpointStatus)
				if d.FailureReason != nil {
					fmt.Fprintf(w, "Failure reason:\t%s\n", aws.ToString(d.FailureReason))
				}
				fmt.Fprintf(w, "Config:\t%s\n", aws.ToString(d.EndpointConfigName))
				if p := d.PendingDeploymentSummary; p != nil {
					fmt.Fprintf(w, "Deploying:\t%s (since %s)\n", aws.ToString(p.EndpointConfigName), fmtTime(p.StartTime))
				}
				fmt.Fprintf(w, "Created:\t%s\n", fmtTime(d.CreationTime))
				fmt.Fprintf(w, "Last modified:\t%s\n", fmtTime(d.LastModifiedTime))
				if dc := d.DataCaptureConfig; dc != nil {
					fmt.Fprintf(w, "Data capture:\t%s, %d%% to %s\n", dc.CaptureStatus, aws.ToInt32(dc.CurrentSamplingPercentage), aws.ToString(dc.DestinationS3Uri))
				}
				fmt.Fprintln(w, "\nVARIANT\tWEIGHT\tINSTANCES\tIMAGE\tINVOCATIONS\t4XX\t5XX\tMODEL p50/p99 µs\tOVERHEAD p50/p99 µs")
				for _, v := range d.ProductionVariants {
					image := "-"
					if len(v.DeployedImages) > 0 {
						image = aws.ToString(v.DeployedImages[0].SpecifiedImage)
					}
					weight := fmt.Sprintf("%g", aws.ToFloat32(v.CurrentWeight))
					if v.DesiredWeight != nil && aws.ToFloat32(v.DesiredWeight) != aws.ToFloat32(v.CurrentWeight) {
						weight += fmt.Sprintf(" -> %g", aws.ToFloat32(v.DesiredWeight))
					}
					count := fmt.Sprintf("%d", aws.ToInt32(v.CurrentInstanceCount))
					if v.DesiredInstanceCount != nil && aws.ToInt32(v.DesiredInstanceCount) != aws.ToInt32(v.CurrentInstanceCount) {
						count += fmt.Sprintf(" -> %d", aws.ToInt32(v.DesiredInstanceCount))
					}
					traffic := "-\t-\t-\t-\t-"
					for _, mv := range m.Variants {
						if mv.VariantName == aws.ToString(v.VariantName) {
							traffic = fmt.Sprintf("%d\t%d\t%d\t%.0f/%.0f\t%.0f/%.0f", mv.Invocations, mv.Invocation4XXErrors, mv.Invocation5XXErrors,
								mv.ModelLatency.P50Micros, mv.ModelLatency.P99Micros, mv.OverheadLatency.P50Micros, mv.OverheadLatency.P99Micros)
						}
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", aws.ToString(v.VariantName), weight, count, image, traffic)
				}
				if merr != nil {
					fmt.Fprintf(g.stderr, "metrics unavailable: %v\n", merr)
				}
			})
		},
	}
}

func newEndpointsDeleteCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an endpoint (its config and models stay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.sm(ctx)
			if err != nil {
				return err
			}
			if _, err := c.DeleteEndpoint(ctx, &sagemaker.DeleteEndpointInput{EndpointName: aws.String(args[0])}); err != nil {
				return err
			}
			if wait {
				if _, err := g.waitEndpoint(ctx, c, args[0], 5*time.Minute, true); err != nil {
					return err
				}
			}
			fmt.Fprintf(g.stderr, "deleted endpoint %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", true, "wait until the endpoint is gone")
	return cmd
}

func newEndpointsInvokeCmd(g *globals) *cobra.Command {
	var body, file, contentType, accept, target, attributes string
	cmd := &cobra.Command{
		Use:   "invoke NAME [--body DATA | --file PATH | < DATA]",
		Short: "Send one request to an endpoint and print the model's answer",
		Example: `  sluice endpoints invoke churn --body '0.5,1.2,3'
  sluice endpoints invoke churn --file rows.csv --target-variant Canary
  echo '{"instances": [[1, 2, 3]]}' | sluice endpoints invoke churn --content-type application/json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var payload []byte
			switch {
			case body != "" && file != "":
				return errors.New("give --body or --file, not both")
			case body != "":
				payload = []byte(body)
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				payload = b
			default:
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				payload = b
			}
			rc, err := g.runtime(ctx)
			if err != nil {
				return err
			}
			in := &sagemakerruntime.InvokeEndpointInput{EndpointName: aws.String(args[0]), Body: payload, ContentType: aws.String(contentType)}
			if accept != "" {
				in.Accept = aws.String(accept)
			}
			if target != "" {
				in.TargetVariant = aws.String(target)
			}
			if attributes != "" {
				in.CustomAttributes = aws.String(attributes)
			}
			out, err := rc.InvokeEndpoint(ctx, in)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return g.emit(map[string]any{"Body": string(out.Body), "ContentType": aws.ToString(out.ContentType),
					"InvokedProductionVariant": aws.ToString(out.InvokedProductionVariant), "CustomAttributes": aws.ToString(out.CustomAttributes)}, nil)
			}
			g.stdout.Write(out.Body)
			if len(out.Body) > 0 && out.Body[len(out.Body)-1] != '\n' {
				fmt.Fprintln(g.stdout)
			}
			fmt.Fprintf(g.stderr, "variant: %s\n", aws.ToString(out.InvokedProductionVariant))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&body, "body", "", "request payload")
	f.StringVar(&file, "file", "", "read the payload from a file")
	f.StringVar(&contentType, "content-type", "text/csv", "payload content type")
	f.StringVar(&accept, "accept", "", "content type of the answer")
	f.StringVar(&target, "target-variant", "", "send to this variant instead of choosing by weight")
	f.StringVar(&attributes, "custom-attributes", "", "X-Amzn-SageMaker-Custom-Attributes passed to the model")
	return cmd
}
