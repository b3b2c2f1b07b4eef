package cli

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/spf13/cobra"
)

// allowUnapprovedTag is the CreateModel tag with which the server accepts a model package that is
// not Approved (the server's allowUnapprovedTag; the CLI speaks only the wire API).
const allowUnapprovedTag = "sluice:AllowUnapprovedModelPackage"

// deployNameRE keeps the characters SageMaker allows in generated names.
var deployNameRE = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

func newDeployCmd(g *globals) *cobra.Command {
	var (
		endpoint, variant, instanceType string
		instances                       int32
		allowUnapproved, wait           bool
		timeout                         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy GROUP/VERSION|GROUP|ARN --endpoint NAME",
		Short: "Serve a registered model version on an endpoint: model, config and endpoint in one go",
		Long: `Deploy a model package version. A bare GROUP deploys its latest Approved version. The command
creates the SageMaker model (once per version), a new endpoint config, and then creates the endpoint
or, if it exists, updates it to the new config. Only Approved versions deploy unless
--allow-unapproved is given.`,
		Example: `  sluice deploy churn/3 --endpoint churn-prod
  sluice deploy churn --endpoint churn-staging --instance-count 2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if endpoint == "" {
				return fmt.Errorf("--endpoint NAME is required")
			}
			start := time.Now()
			c, err := g.sm(ctx)
			if err != nil {
				return err
			}
			ref := args[0]
			if !strings.Contains(ref, "/") {
				latest, err := latestVersion(ctx, c, ref, types.ModelApprovalStatusApproved)
				if err != nil {
					return err
				}
				if latest == nil {
					return fmt.Errorf("model package group %s has no Approved version to deploy; approve one with `sluice models approve %s/VERSION`", ref, ref)
				}
				ref = aws.ToString(latest.ModelPackageArn)
			}
			pkg, err := c.DescribeModelPackage(ctx, &sagemaker.DescribeModelPackageInput{ModelPackageName: aws.String(ref)})
			if err != nil {
				return err
			}
			version := versionRef(aws.ToString(pkg.ModelPackageGroupName), pkg.ModelPackageVersion, aws.ToString(pkg.ModelPackageName))
			if pkg.ModelApprovalStatus != types.ModelApprovalStatusApproved && !allowUnapproved {
				return fmt.Errorf("%s is %s; approve it first (`sluice models approve %s`) or pass --allow-unapproved", version, pkg.ModelApprovalStatus, version)
			}

			// One model per version, reused by later deployments of the same version.
			model := truncateName(deployNameRE.ReplaceAllString(strings.ReplaceAll(version, "/", "-v"), "-"), 63)
			if _, err := c.DescribeModel(ctx, &sagemaker.DescribeModelInput{ModelName: aws.String(model)}); err != nil {
				if apiErrorCode(err) != "ValidationException" {
					return err
				}
				in := &sagemaker.CreateModelInput{ModelName: aws.String(model), PrimaryContainer: &types.ContainerDefinition{ModelPackageName: pkg.ModelPackageArn}}
				if allowUnapproved {
					in.Tags = []types.Tag{{Key: aws.String(allowUnapprovedTag), Value: aws.String("true")}}
				}
				if _, err := c.CreateModel(ctx, in); err != nil {
					return err
				}
			}
			// Configs are immutable, so every deployment gets a fresh one.
			config := fmt.Sprintf("%s-%s-%04x", truncateName(endpoint, 40), time.Now().UTC().Format("20060102-150405"), rand.IntN(1<<16))
			if _, err := c.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{EndpointConfigName: aws.String(config),
				ProductionVariants: []types.ProductionVariant{{VariantName: aws.String(variant), ModelName: aws.String(model),
					InitialInstanceCount: aws.Int32(instances), InstanceType: types.ProductionVariantInstanceType(instanceType)}},
				Tags: []types.Tag{{Key: aws.String("sluice:ModelPackage"), Value: pkg.ModelPackageArn}}}); err != nil {
				return err
			}
			_, err = c.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(endpoint)})
			action := "updated"
			switch {
			case err == nil:
				_, err = c.UpdateEndpoint(ctx, &sagemaker.UpdateEndpointInput{EndpointName: aws.String(endpoint), EndpointConfigName: aws.String(config)})
			case apiErrorCode(err) == "ValidationException":
				action = "created"
				_, err = c.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String(endpoint), EndpointConfigName: aws.String(config)})
			}
			if err != nil {
				return err
			}
			var d *sagemaker.DescribeEndpointOutput
			if wait {
				if d, err = g.waitEndpoint(ctx, c, endpoint, timeout, false); err != nil {
					return err
				}
			}
			elapsed := time.Since(start)
			result := map[string]any{"EndpointName": endpoint, "EndpointConfigName": config, "ModelName": model,
				"ModelPackageArn": aws.ToString(pkg.ModelPackageArn), "Action": action, "Seconds": elapsed.Seconds()}
			if d != nil {
				result["EndpointStatus"] = string(d.EndpointStatus)
			}
			return g.emit(result, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s %s endpoint %s (model %s, config %s) in %s\n", version, action, endpoint, model, config, elapsed.Round(time.Millisecond))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", "", "endpoint to create or update")
	f.StringVar(&variant, "variant", "AllTraffic", "variant name")
	f.Int32Var(&instances, "instance-count", 1, "replicas of the model")
	f.StringVar(&instanceType, "instance-type", "ml.m5.large", "instance type, recorded")
	f.BoolVar(&allowUnapproved, "allow-unapproved", false, "deploy a version that is not Approved")
	f.BoolVar(&wait, "wait", true, "wait until the endpoint is InService")
	f.DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait")
	return cmd
}
