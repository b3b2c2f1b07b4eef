package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/smithy-go"

	"github.com/sluice-ml/sluice/internal/server"
)

// conn is a resolved connection to a server: where it is and how to sign for it.
type conn struct {
	endpoint string
	aws      aws.Config
}

// connect resolves the endpoint and credentials: flags first, then the local data directory's
// sluice profile.
func (g *globals) connect(ctx context.Context) (*conn, error) {
	profile := g.profile
	credFile := filepath.Join(g.home, "credentials")
	confFile := filepath.Join(g.home, "config")
	_, haveLocal := os.Stat(credFile)
	opts := []func(*awsconfig.LoadOptions) error{}
	if haveLocal == nil {
		opts = append(opts,
			awsconfig.WithSharedCredentialsFiles([]string{credFile, awsconfig.DefaultSharedCredentialsFilename()}),
			awsconfig.WithSharedConfigFiles([]string{confFile, awsconfig.DefaultSharedConfigFilename()}))
		if profile == "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
			profile = server.ProfileName
		}
	}
	if profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(profile))
	}
	if g.region != "" {
		opts = append(opts, awsconfig.WithRegion(g.region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load credentials: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	endpoint := g.endpoint
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint
	}
	if endpoint == "" {
		endpoint = profileEndpoint(confFile, profile)
	}
	if endpoint == "" {
		return nil, fmt.Errorf("no Sluice server found: start one with `sluice server --home %s`, or pass --endpoint URL (and --profile)", g.home)
	}
	return &conn{endpoint: strings.TrimRight(endpoint, "/"), aws: cfg}, nil
}

// profileEndpoint reads endpoint_url of a profile from an AWS config file.
func profileEndpoint(path, profile string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			name := strings.TrimSpace(strings.TrimPrefix(strings.Trim(line, "[]"), "profile "))
			in = name == profile || (profile == "" && name == server.ProfileName)
			continue
		}
		if k, v, ok := strings.Cut(line, "="); in && ok && strings.TrimSpace(k) == "endpoint_url" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// sagemaker returns a SageMaker client for the server.
func (c *conn) sagemaker() *sagemaker.Client {
	return sagemaker.NewFromConfig(c.aws, func(o *sagemaker.Options) {
		o.BaseEndpoint = aws.String(c.endpoint)
	})
}

// sm connects and returns a SageMaker client in one step.
func (g *globals) sm(ctx context.Context) (*sagemaker.Client, error) {
	c, err := g.connect(ctx)
	if err != nil {
		return nil, err
	}
	return c.sagemaker(), nil
}

// do sends a SigV4-signed request to the native API and decodes a JSON answer into out.
func (c *conn) do(ctx context.Context, method, path string, body []byte, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send signs and sends a native API request; a non-2xx answer becomes an error carrying the
// server's message.
func (c *conn) send(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	creds, err := c.aws.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "sagemaker", c.aws.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server at %s: %w", c.endpoint, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
			Type  string                         `json:"__type"`
			Msg   string                         `json:"message"`
		}
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &e) == nil && (e.Error.Message != "" || e.Msg != "") {
			if e.Error.Message != "" {
				return nil, fmt.Errorf("%s: %s", e.Error.Code, e.Error.Message)
			}
			return nil, fmt.Errorf("%s: %s", e.Type, e.Msg)
		}
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// apiErrorMessage turns an SDK error into "Code: message".
func apiErrorMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}

// emit prints v as JSON when --output json, and otherwise calls table with a tab writer.
func (g *globals) emit(v any, table func(w *tabwriter.Writer)) error {
	switch g.output {
	case "json":
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "table", "":
		tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	default:
		return fmt.Errorf("--output %q: expected table or json", g.output)
	}
}

// fmtTime prints a time for tables.
func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
