package e2e

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/aws-sdk-go-v2/service/sagemakerruntime"

	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/server/servertest"
)

// TestModelNetworkIsolation: an endpoint whose model sets EnableNetworkIsolation answers
// InvokeEndpoint, while its model server cannot connect anywhere, not even to a listener on the
// host's loopback; the same server without the flag can.
func TestModelNetworkIsolation(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, func(c *config.Config) {
		c.Jobs.Images = map[string]string{modelImage: exe + " " + modelCommand}
	})
	ctx := context.Background()
	sm := srv.SageMaker()
	rt := sagemakerruntime.NewFromConfig(srv.AWS(), func(o *sagemakerruntime.Options) { o.BaseEndpoint = aws.String(srv.URL()) })

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	for _, tc := range []struct {
		name    string
		isolate bool
		want    string
	}{
		{"isolated", true, "unreachable"},
		{"open", false, "reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sm.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String("dialer-" + tc.name),
				EnableNetworkIsolation: aws.Bool(tc.isolate),
				PrimaryContainer: &smtypes.ContainerDefinition{Image: aws.String(strings.Replace(modelImage, "*", tc.name, 1)),
					Environment: map[string]string{"MODE": "dial", "TARGET": l.Addr().String()}}}); err != nil {
				t.Fatal(err)
			}
			m, err := sm.DescribeModel(ctx, &sagemaker.DescribeModelInput{ModelName: aws.String("dialer-" + tc.name)})
			if err != nil || aws.ToBool(m.EnableNetworkIsolation) != tc.isolate {
				t.Fatalf("DescribeModel: EnableNetworkIsolation %v, %v", m.EnableNetworkIsolation, err)
			}
			if _, err := sm.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{EndpointConfigName: aws.String("dialer-" + tc.name),
				ProductionVariants: []smtypes.ProductionVariant{{VariantName: aws.String("AllTraffic"), ModelName: aws.String("dialer-" + tc.name),
					InitialInstanceCount: aws.Int32(1), InstanceType: smtypes.ProductionVariantInstanceTypeMlM5Large}}}); err != nil {
				t.Fatal(err)
			}
			endpoint := "dialer-" + tc.name
			if _, err := sm.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String(endpoint), EndpointConfigName: aws.String(endpoint)}); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				d, err := sm.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: aws.String(endpoint)})
				if err != nil {
					t.Fatal(err)
				}
				if d.EndpointStatus == smtypes.EndpointStatusInService {
					break
				}
				if d.EndpointStatus == smtypes.EndpointStatusFailed {
					if tc.isolate && strings.Contains(aws.ToString(d.FailureReason), "network isolation is unavailable") {
						t.Skipf("SKIPPED: this host cannot run isolated model servers: %s", aws.ToString(d.FailureReason))
					}
					t.Fatalf("endpoint failed: %s", aws.ToString(d.FailureReason))
				}
				if time.Now().After(deadline) {
					t.Fatalf("endpoint still %s", d.EndpointStatus)
				}
			}
			out, err := rt.InvokeEndpoint(ctx, &sagemakerruntime.InvokeEndpointInput{EndpointName: aws.String(endpoint),
				ContentType: aws.String("text/csv"), Body: []byte("1,2")})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(out.Body); got != tc.want {
				t.Fatalf("the model server reports %q, want %q", got, tc.want)
			}
		})
	}
}
