package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/spf13/cobra"
)

func init() { addCommands(newModelsCmds) }

// The models commands work the model registry through SageMaker's API, exactly as boto3 or a CI
// script would.
func newModelsCmds(g *globals) []*cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Model registry: groups, versions and their approval",
		Long: `Work the model registry. A model package group is a line of models; each registration adds a
numbered version (1, 2, 3 …) that waits for approval. Only Approved versions are deployed.

Versions are named by ARN or as GROUP/VERSION, e.g. abalone/3.`,
	}
	cmd.AddCommand(
		newModelGroupsCmd(g),
		newModelsListCmd(g),
		newModelsDescribeCmd(g),
		newModelsApprovalCmd(g, "approve", types.ModelApprovalStatusApproved, "Approve a version so deploy pipelines pick it up"),
		newModelsApprovalCmd(g, "reject", types.ModelApprovalStatusRejected, "Reject a version; if it was approved, deployments fall back to the latest approved one"),
		newModelsLatestCmd(g),
	)
	return []*cobra.Command{cmd}
}

func newModelGroupsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "groups", Short: "Create, list, describe and delete model package groups"}
	var description string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a model package group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			in := &sagemaker.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String(args[0])}
			if description != "" {
				in.ModelPackageGroupDescription = aws.String(description)
			}
			out, err := c.CreateModelPackageGroup(cmd.Context(), in)
			if err != nil {
				return err
			}
			return g.emit(map[string]string{"ModelPackageGroupArn": aws.ToString(out.ModelPackageGroupArn)}, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, aws.ToString(out.ModelPackageGroupArn))
			})
		},
	}
	create.Flags().StringVar(&description, "description", "", "what the models of this group do")

	var nameContains string
	list := &cobra.Command{
		Use:   "list",
		Short: "List model package groups, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			in := &sagemaker.ListModelPackageGroupsInput{MaxResults: aws.Int32(100)}
			if nameContains != "" {
				in.NameContains = aws.String(nameContains)
			}
			var groups []types.ModelPackageGroupSummary
			p := sagemaker.NewListModelPackageGroupsPaginator(c, in)
			for p.HasMorePages() {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				groups = append(groups, page.ModelPackageGroupSummaryList...)
			}
			return g.emit(clean(groups), func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tSTATUS\tCREATED\tDESCRIPTION")
				for _, s := range groups {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", aws.ToString(s.ModelPackageGroupName), s.ModelPackageGroupStatus, fmtTime(s.CreationTime), aws.ToString(s.ModelPackageGroupDescription))
				}
			})
		},
	}
	list.Flags().StringVar(&nameContains, "name-contains", "", "only groups whose name contains this text")

	describe := &cobra.Command{
		Use:   "describe NAME|ARN",
		Short: "Show a model package group and its latest versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.sm(ctx)
			if err != nil {
				return err
			}
			d, err := c.DescribeModelPackageGroup(ctx, &sagemaker.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String(args[0])})
			if err != nil {
				return err
			}
			latest, err := latestVersion(ctx, c, aws.ToString(d.ModelPackageGroupName), "")
			if err != nil {
				return err
			}
			approved, err := latestVersion(ctx, c, aws.ToString(d.ModelPackageGroupName), types.ModelApprovalStatusApproved)
			if err != nil {
				return err
			}
			return g.emit(clean(d), func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "Name:\t%s\n", aws.ToString(d.ModelPackageGroupName))
				fmt.Fprintf(w, "ARN:\t%s\n", aws.ToString(d.ModelPackageGroupArn))
				fmt.Fprintf(w, "Status:\t%s\n", d.ModelPackageGroupStatus)
				fmt.Fprintf(w, "Description:\t%s\n", dash(aws.ToString(d.ModelPackageGroupDescription)))
				fmt.Fprintf(w, "Created:\t%s by %s\n", fmtTime(d.CreationTime), userName(d.CreatedBy))
				fmt.Fprintf(w, "Latest version:\t%s\n", summaryLine(latest))
				fmt.Fprintf(w, "Latest approved:\t%s\n", summaryLine(approved))
			})
		},
	}

	del := &cobra.Command{
		Use:   "delete NAME|ARN",
		Short: "Delete an empty model package group",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.DeleteModelPackageGroup(cmd.Context(), &sagemaker.DeleteModelPackageGroupInput{ModelPackageGroupName: aws.String(args[0])}); err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "Deleted model package group %s.\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, describe, del)
	return cmd
}

func newModelsListCmd(g *globals) *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:   "list GROUP",
		Short: "List the versions of a group, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.sm(ctx)
			if err != nil {
				return err
			}
			st, err := approvalFlag(status)
			if err != nil {
				return err
			}
			// SageMaker lists nothing for an unknown group; say so instead of printing an empty table.
			if _, err := c.DescribeModelPackageGroup(ctx, &sagemaker.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String(args[0])}); err != nil {
				return err
			}
			in := &sagemaker.ListModelPackagesInput{ModelPackageGroupName: aws.String(args[0]), ModelApprovalStatus: st, MaxResults: aws.Int32(100)}
			var versions []types.ModelPackageSummary
			p := sagemaker.NewListModelPackagesPaginator(c, in)
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					return err
				}
				versions = append(versions, page.ModelPackageSummaryList...)
			}
			return g.emit(clean(versions), func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "VERSION\tAPPROVAL\tSTATUS\tCREATED\tDESCRIPTION")
				for _, s := range versions {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", versionRef(aws.ToString(s.ModelPackageGroupName), s.ModelPackageVersion, aws.ToString(s.ModelPackageName)),
						s.ModelApprovalStatus, s.ModelPackageStatus, fmtTime(s.CreationTime), aws.ToString(s.ModelPackageDescription))
				}
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only versions with this approval: Approved, Rejected or PendingManualApproval")
	return cmd
}

func approvalFlag(s string) (types.ModelApprovalStatus, error) {
	if s == "" {
		return "", nil
	}
	for _, v := range types.ModelApprovalStatus("").Values() {
		if strings.EqualFold(string(v), s) {
			return v, nil
		}
	}
	return "", fmt.Errorf("--status %q: expected Approved, Rejected or PendingManualApproval", s)
}

func newModelsDescribeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe ARN|GROUP/VERSION",
		Short: "Show a model version: approval, who changed it, containers, metrics and metadata",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.sm(cmd.Context())
			if err != nil {
				return err
			}
			d, err := c.DescribeModelPackage(cmd.Context(), &sagemaker.DescribeModelPackageInput{ModelPackageName: aws.String(args[0])})
			if err != nil {
				return err
			}
			return g.emit(clean(d), func(w *tabwriter.Writer) { printPackage(w, d) })
		},
	}
}

func printPackage(w *tabwriter.Writer, d *sagemaker.DescribeModelPackageOutput) {
	fmt.Fprintf(w, "Version:\t%s\n", versionRef(aws.ToString(d.ModelPackageGroupName), d.ModelPackageVersion, aws.ToString(d.ModelPackageName)))
	fmt.Fprintf(w, "ARN:\t%s\n", aws.ToString(d.ModelPackageArn))
	fmt.Fprintf(w, "Approval:\t%s\n", dash(string(d.ModelApprovalStatus)))
	if d.ApprovalDescription != nil {
		fmt.Fprintf(w, "Approval note:\t%s\n", aws.ToString(d.ApprovalDescription))
	}
	fmt.Fprintf(w, "Status:\t%s\n", d.ModelPackageStatus)
	fmt.Fprintf(w, "Description:\t%s\n", dash(aws.ToString(d.ModelPackageDescription)))
	fmt.Fprintf(w, "Created:\t%s by %s\n", fmtTime(d.CreationTime), userName(d.CreatedBy))
	fmt.Fprintf(w, "Last modified:\t%s by %s\n", fmtTime(d.LastModifiedTime), userName(d.LastModifiedBy))
	if spec := d.InferenceSpecification; spec != nil {
		for i, ctr := range spec.Containers {
			fmt.Fprintf(w, "Container %d:\t%s\n", i+1, aws.ToString(ctr.Image))
			if ctr.ModelDataUrl != nil {
				fmt.Fprintf(w, "  Model data:\t%s\n", aws.ToString(ctr.ModelDataUrl))
			}
		}
		if len(spec.SupportedContentTypes) > 0 {
			fmt.Fprintf(w, "Content types:\t%s\n", strings.Join(spec.SupportedContentTypes, ", "))
		}
	}
	if m := d.ModelMetrics; m != nil && m.ModelQuality != nil && m.ModelQuality.Statistics != nil {
		fmt.Fprintf(w, "Model quality:\t%s\n", aws.ToString(m.ModelQuality.Statistics.S3Uri))
	}
	if mp := d.MetadataProperties; mp != nil && mp.GeneratedBy != nil {
		fmt.Fprintf(w, "Generated by:\t%s\n", aws.ToString(mp.GeneratedBy))
	}
	keys := make([]string, 0, len(d.CustomerMetadataProperties))
	for k := range d.CustomerMetadataProperties {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "Metadata %s:\t%s\n", k, d.CustomerMetadataProperties[k])
	}
}

func newModelsApprovalCmd(g *globals, verb string, status types.ModelApprovalStatus, short string) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   verb + " ARN|GROUP/VERSION",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.sm(ctx)
			if err != nil {
				return err
			}
			// UpdateModelPackage takes an ARN; Describe resolves GROUP/VERSION to one.
			before, err := c.DescribeModelPackage(ctx, &sagemaker.DescribeModelPackageInput{ModelPackageName: aws.String(args[0])})
			if err != nil {
				return err
			}
			in := &sagemaker.UpdateModelPackageInput{ModelPackageArn: before.ModelPackageArn, ModelApprovalStatus: status}
			if cmd.Flags().Changed("note") {
				in.ApprovalDescription = aws.String(note)
			}
			if _, err := c.UpdateModelPackage(ctx, in); err != nil {
				return err
			}
			after, err := c.DescribeModelPackage(ctx, &sagemaker.DescribeModelPackageInput{ModelPackageName: before.ModelPackageArn})
			if err != nil {
				return err
			}
			return g.emit(clean(after), func(w *tabwriter.Writer) {
				ref := versionRef(aws.ToString(after.ModelPackageGroupName), after.ModelPackageVersion, aws.ToString(after.ModelPackageName))
				fmt.Fprintf(w, "%s\t%s -> %s", ref, before.ModelApprovalStatus, after.ModelApprovalStatus)
				if after.ApprovalDescription != nil {
					fmt.Fprintf(w, "\t%q", aws.ToString(after.ApprovalDescription))
				}
				fmt.Fprintln(w)
			})
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "why: recorded as the version's ApprovalDescription")
	return cmd
}

func newModelsLatestCmd(g *globals) *cobra.Command {
	var approved bool
	cmd := &cobra.Command{
		Use:   "latest GROUP",
		Short: "Print the newest version of a group (with --approved: the newest Approved one, what deployments run)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := g.sm(ctx)
			if err != nil {
				return err
			}
			var status types.ModelApprovalStatus
			if approved {
				status = types.ModelApprovalStatusApproved
			}
			s, err := latestVersion(ctx, c, args[0], status)
			if err != nil {
				return err
			}
			if s == nil {
				if _, err := c.DescribeModelPackageGroup(ctx, &sagemaker.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String(args[0])}); err != nil {
					return err
				}
				if approved {
					return fmt.Errorf("model package group %s has no Approved version", args[0])
				}
				return fmt.Errorf("model package group %s has no versions", args[0])
			}
			return g.emit(clean(s), func(w *tabwriter.Writer) {
				fmt.Fprintln(w, aws.ToString(s.ModelPackageArn))
			})
		},
	}
	cmd.Flags().BoolVar(&approved, "approved", false, "the newest Approved version only")
	return cmd
}

// latestVersion runs the query CI scripts use: newest first, one result, following tokens past
// empty pages.
func latestVersion(ctx context.Context, c *sagemaker.Client, group string, status types.ModelApprovalStatus) (*types.ModelPackageSummary, error) {
	in := &sagemaker.ListModelPackagesInput{
		ModelPackageGroupName: aws.String(group), ModelApprovalStatus: status,
		SortBy: types.ModelPackageSortByCreationTime, SortOrder: types.SortOrderDescending, MaxResults: aws.Int32(1),
	}
	for {
		out, err := c.ListModelPackages(ctx, in)
		if err != nil {
			return nil, err
		}
		if len(out.ModelPackageSummaryList) > 0 {
			return &out.ModelPackageSummaryList[0], nil
		}
		if out.NextToken == nil {
			return nil, nil
		}
		in.NextToken = out.NextToken
	}
}

func versionRef(group string, version *int32, name string) string {
	if group == "" || version == nil {
		return name
	}
	return fmt.Sprintf("%s/%d", group, *version)
}

func summaryLine(s *types.ModelPackageSummary) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%s, %s)", versionRef(aws.ToString(s.ModelPackageGroupName), s.ModelPackageVersion, aws.ToString(s.ModelPackageName)), s.ModelApprovalStatus, fmtTime(s.CreationTime))
}

func userName(u *types.UserContext) string {
	if u == nil || u.UserProfileName == nil {
		return "-"
	}
	return aws.ToString(u.UserProfileName)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clean turns an SDK value into plain JSON for --output json: SageMaker's field names, no null
// members and no SDK response metadata.
func clean(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return prune(out)
}

func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		delete(t, "ResultMetadata")
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			if s, ok := e.(string); ok && s == "" {
				delete(t, k)
				continue
			}
			t[k] = prune(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = prune(e)
		}
		return t
	}
	return v
}
