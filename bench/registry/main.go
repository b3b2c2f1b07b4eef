// Command registry benchmarks the model registry over HTTP with SigV4, on SQLite and on
// PostgreSQL side by side: CreateModelPackage throughput with concurrent clients, and the
// latency of the "latest approved" query CI scripts run, in a group of 100,000 versions.
//
//	go run ./bench/registry                                  # SQLite, and PostgreSQL if SLUICE_TEST_POSTGRES is set
//	go run ./bench/registry -postgres postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//
// Each engine gets a real in-process server (server.New, the same wiring as `sluice server`) on a
// loopback port, and clients are the AWS SDK for Go v2, signing every request. The 100,000
// versions are seeded through the store in bulk transactions (the same queries CreateModelPackage
// runs, without HTTP); every measured call goes over HTTP.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/registry"
	"github.com/sluice-ml/sluice/internal/server"
	"github.com/sluice-ml/sluice/internal/store"
)

type options struct {
	postgres string
	clients  int
	creates  int
	versions int
	queries  int
	approved int
	profile  string
}

func main() {
	var o options
	flag.StringVar(&o.postgres, "postgres", os.Getenv("SLUICE_TEST_POSTGRES"), "PostgreSQL DSN (a fresh schema is created and dropped); empty skips PostgreSQL")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients creating model packages")
	flag.IntVar(&o.creates, "creates", 5000, "CreateModelPackage calls to time")
	flag.IntVar(&o.versions, "versions", 100_000, "versions in the group the latest-approved query searches")
	flag.IntVar(&o.queries, "queries", 2000, "latest-approved queries to time")
	flag.IntVar(&o.approved, "approved-every", 10, "one version in this many is Approved in the seeded group")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// result is what one engine measured.
type result struct {
	engine         string
	createRate     float64
	createP50      time.Duration
	createP99      time.Duration
	createCPU      time.Duration
	seed           time.Duration
	latestP50      time.Duration
	latestP99      time.Duration
	latestMean     time.Duration
	describeP50    time.Duration
	describeP99    time.Duration
	expectedLatest string
}

func run(ctx context.Context, o options, out io.Writer) error {
	fmt.Fprintf(out, "Registry benchmark: %d CPUs, GOMAXPROCS %d, %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Fprintf(out, "  CreateModelPackage: %d calls from %d concurrent SDK clients into one group (HTTP, SigV4)\n", o.creates, o.clients)
	fmt.Fprintf(out, "  latest approved: ListModelPackages(group, Approved, CreationTime Descending, MaxResults 1), %d sequential calls, group of %d versions (1 in %d Approved)\n\n", o.queries, o.versions, o.approved)
	var results []result
	r, err := bench(ctx, o, "SQLite", "")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	results = append(results, r)
	if o.postgres != "" {
		dsn, drop, err := freshSchema(o.postgres)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		r, err := bench(ctx, o, "PostgreSQL", dsn)
		drop()
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		results = append(results, r)
	} else {
		fmt.Fprintln(out, "PostgreSQL skipped: pass -postgres DSN or set SLUICE_TEST_POSTGRES.")
	}
	printTable(out, o, results)
	return nil
}

func printTable(out io.Writer, o options, rs []result) {
	row := func(label string, f func(r result) string) {
		fmt.Fprintf(out, "%-46s", label)
		for _, r := range rs {
			fmt.Fprintf(out, "%16s", f(r))
		}
		fmt.Fprintln(out)
	}
	row("", func(r result) string { return r.engine })
	row(fmt.Sprintf("CreateModelPackage throughput (%d clients)", o.clients), func(r result) string { return fmt.Sprintf("%.0f/s", r.createRate) })
	row("  CPU per create (client + server)", func(r result) string { return ms(r.createCPU) })
	row(fmt.Sprintf("  CPU-bound capacity on %d cores", runtime.NumCPU()), func(r result) string {
		if r.createCPU == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f/s", float64(runtime.NumCPU())/r.createCPU.Seconds())
	})
	row("CreateModelPackage p50", func(r result) string { return ms(r.createP50) })
	row("CreateModelPackage p99", func(r result) string { return ms(r.createP99) })
	row(fmt.Sprintf("seed %d versions (store, bulk insert)", o.versions), func(r result) string { return r.seed.Round(10 * time.Millisecond).String() })
	row("latest approved p50", func(r result) string { return ms(r.latestP50) })
	row("latest approved p99", func(r result) string { return ms(r.latestP99) })
	row("latest approved mean", func(r result) string { return ms(r.latestMean) })
	row("DescribeModelPackage p50", func(r result) string { return ms(r.describeP50) })
	row("DescribeModelPackage p99", func(r result) string { return ms(r.describeP99) })
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func bench(ctx context.Context, o options, engine, dsn string) (result, error) {
	res := result{engine: engine}
	dir, err := os.MkdirTemp("", "sluice-bench-registry-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.Database = dsn
	cfg.LogLevel = "warn"
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return res, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	keys, err := srv.Store().AccessKeys(ctx)
	if err != nil || len(keys) == 0 {
		return res, fmt.Errorf("root key: %v", err)
	}
	transport := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	client := sagemaker.NewFromConfig(aws.Config{
		Region:      cfg.Region,
		Credentials: credentials.NewStaticCredentialsProvider(keys[0].AccessKeyID, keys[0].Secret, ""),
		HTTPClient:  &http.Client{Transport: transport},
	}, func(opts *sagemaker.Options) {
		opts.BaseEndpoint = aws.String(srv.URL())
		opts.RetryMaxAttempts = 1
	})

	// Throughput of concurrent creates into one group: the worst case for the version counter.
	if _, err := client.CreateModelPackageGroup(ctx, &sagemaker.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("bench-create")}); err != nil {
		return res, err
	}
	create := func() error {
		_, err := client.CreateModelPackage(ctx, createInput("bench-create"))
		return err
	}
	for i := 0; i < 200; i++ { // warm connections and caches
		if err := create(); err != nil {
			return res, err
		}
	}
	lat := make([]time.Duration, o.creates)
	var next atomic.Int64
	var failures atomic.Int64
	var wg sync.WaitGroup
	cpu0 := processCPU()
	start := time.Now()
	for c := 0; c < o.clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(o.creates) {
					return
				}
				t := time.Now()
				if err := create(); err != nil {
					failures.Add(1)
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.createCPU = (processCPU() - cpu0) / time.Duration(o.creates)
	if n := failures.Load(); n > 0 {
		return res, fmt.Errorf("%d of %d creates failed", n, o.creates)
	}
	res.createRate = float64(o.creates) / elapsed.Seconds()
	res.createP50, res.createP99 = percentiles(lat)
	// Every create got its own version: the last one is numbered exactly creates+warm-up.
	g, err := client.DescribeModelPackageGroup(ctx, &sagemaker.DescribeModelPackageGroupInput{ModelPackageGroupName: aws.String("bench-create")})
	if err != nil {
		return res, err
	}
	if _, err := client.DescribeModelPackage(ctx, &sagemaker.DescribeModelPackageInput{ModelPackageName: aws.String(fmt.Sprintf("%s/%d", aws.ToString(g.ModelPackageGroupName), o.creates+200))}); err != nil {
		return res, fmt.Errorf("versions are not 1..%d after concurrent creates: %w", o.creates+200, err)
	}

	// A big group, seeded in bulk through the store.
	if _, err := client.CreateModelPackageGroup(ctx, &sagemaker.CreateModelPackageGroupInput{ModelPackageGroupName: aws.String("bench-latest")}); err != nil {
		return res, err
	}
	arns := awsapi.ARNs{Region: cfg.Region, AccountID: cfg.AccountID}
	t0 := time.Now()
	res.expectedLatest, err = seed(ctx, srv.Store(), arns, "bench-latest", o.versions, o.approved)
	if err != nil {
		return res, fmt.Errorf("seed: %w", err)
	}
	res.seed = time.Since(t0)
	// Refresh planner statistics after the bulk load, as autovacuum (PostgreSQL) would shortly.
	if _, err := srv.Store().Read().ExecContext(ctx, "ANALYZE"); err != nil {
		return res, fmt.Errorf("analyze: %w", err)
	}

	latest := func() (string, error) {
		out, err := client.ListModelPackages(ctx, &sagemaker.ListModelPackagesInput{
			ModelPackageGroupName: aws.String("bench-latest"), ModelApprovalStatus: types.ModelApprovalStatusApproved,
			SortBy: types.ModelPackageSortByCreationTime, SortOrder: types.SortOrderDescending, MaxResults: aws.Int32(1),
		})
		if err != nil {
			return "", err
		}
		if len(out.ModelPackageSummaryList) == 0 {
			return "", errors.New("latest approved: empty page")
		}
		return aws.ToString(out.ModelPackageSummaryList[0].ModelPackageArn), nil
	}
	for i := 0; i < 200; i++ {
		got, err := latest()
		if err != nil {
			return res, err
		}
		if got != res.expectedLatest {
			return res, fmt.Errorf("latest approved = %s, want %s", got, res.expectedLatest)
		}
	}
	qlat := make([]time.Duration, o.queries)
	for i := range qlat {
		t := time.Now()
		if _, err := latest(); err != nil {
			return res, err
		}
		qlat[i] = time.Since(t)
	}
	res.latestP50, res.latestP99 = percentiles(qlat)
	var sum time.Duration
	for _, d := range qlat {
		sum += d
	}
	res.latestMean = sum / time.Duration(len(qlat))

	dlat := make([]time.Duration, o.queries)
	for i := range dlat {
		ref := fmt.Sprintf("bench-latest/%d", 1+(i*7919)%o.versions)
		t := time.Now()
		if _, err := client.DescribeModelPackage(ctx, &sagemaker.DescribeModelPackageInput{ModelPackageName: aws.String(ref)}); err != nil {
			return res, err
		}
		dlat[i] = time.Since(t)
	}
	res.describeP50, res.describeP99 = percentiles(dlat)
	return res, nil
}

var inferenceSpec = json.RawMessage(`{"Containers":[{"Image":"683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1","ModelDataUrl":"s3://sluice-models/bench/model.tar.gz"}],"SupportedContentTypes":["text/csv"],"SupportedResponseMIMETypes":["text/csv"]}`)

func createInput(group string) *sagemaker.CreateModelPackageInput {
	return &sagemaker.CreateModelPackageInput{
		ModelPackageGroupName: aws.String(group),
		InferenceSpecification: &types.InferenceSpecification{
			Containers: []types.ModelPackageContainerDefinition{{
				Image:        aws.String("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"),
				ModelDataUrl: aws.String("s3://sluice-models/bench/model.tar.gz"),
			}},
			SupportedContentTypes:      []string{"text/csv"},
			SupportedResponseMIMETypes: []string{"text/csv"},
		},
		ModelMetrics: &types.ModelMetrics{ModelQuality: &types.ModelQuality{Statistics: &types.MetricsSource{
			ContentType: aws.String("application/json"), S3Uri: aws.String("s3://sluice-models/bench/evaluation.json"),
		}}},
		CustomerMetadataProperties: map[string]string{"rmse": "2.13"},
	}
}

// seed adds n versions to the group in bulk (ReserveVersions, then multi-row inserts), one in
// every approvedEvery Approved and the newest few pending, and returns the ARN the latest-approved
// query must find.
func seed(ctx context.Context, st *store.Store, arns awsapi.ARNs, group string, n, approvedEvery int) (string, error) {
	spec, _ := json.Marshal(registry.Spec{InferenceSpecification: inferenceSpec})
	by, _ := json.Marshal(registry.UserContext{UserProfileName: "bench"})
	groupARN := arns.For(registry.KindGroup, group)
	var latest string
	const batch = 5000
	for done := 0; done < n; done += batch {
		size := min(batch, n-done)
		err := st.InTx(ctx, func(tx *store.Tx) error {
			g, first, created, err := tx.ReserveVersions(ctx, groupARN, size, time.Now())
			if err != nil {
				return err
			}
			ps := make([]store.ModelPackage, size)
			for j := range ps {
				i := done + j
				status := registry.PendingManualApproval
				if i%approvedEvery == 0 && i < n-5 {
					status = registry.Approved
				}
				v := first + int64(j)
				at := created.Add(time.Duration(j) * time.Millisecond)
				ps[j] = store.ModelPackage{
					GroupID: g.ID, GroupName: g.Name, Name: g.Name, Version: v,
					ARN:            arns.For(registry.KindPackage, g.Name+"/"+strconv.FormatInt(v, 10)),
					ApprovalStatus: string(status), Status: registry.StatusCompleted,
					CreatedAt: at, ModifiedAt: at, CreatedBy: by, ModifiedBy: by, Spec: spec,
				}
				if status == registry.Approved {
					latest = ps[j].ARN
				}
			}
			return tx.InsertModelPackages(ctx, ps)
		})
		if err != nil {
			return "", err
		}
	}
	return latest, nil
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)*50/100], s[len(s)*99/100]
}

// freshSchema creates a schema for this run and returns a DSN that uses it, and a function that
// drops it.
func freshSchema(base string) (string, func(), error) {
	var b [6]byte
	rand.Read(b[:])
	schema := "bench_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	}
	return u.String(), drop, nil
}
