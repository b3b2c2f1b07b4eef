// Command jobs measures the job runner's start and finish overhead: for no-op processing jobs
// (an image mapped to /bin/true), the time from the CreateProcessingJob call to the job's process
// running, and from the process's exit to the job being Completed.
//
//	go run ./bench/jobs                     # embedded SQLite, and PostgreSQL if SLUICE_TEST_POSTGRES is set
//	go run ./bench/jobs -jobs 500 -postgres ''
//
// Each database gets a real in-process server (server.New, the same wiring as `sluice server`:
// local artifact store, process runtime with mount namespaces where the host allows them) and
// the client is the AWS SDK for Go v2 over HTTP. Jobs run one at a time so that each figure is
// a latency, not a queueing delay. The timestamps are the runner's own: its Processing step
// starts when the runtime reports the process started (the init shim has exec'd the job) and
// ends when the process has been reaped; "Completed visible" is when a waiter on the store sees
// the committed status.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/jobs"
	"github.com/sluice-ml/sluice/internal/server"
)

func main() {
	n := flag.Int("jobs", 200, "no-op jobs to time per database")
	warm := flag.Int("warmup", 10, "untimed jobs first")
	pg := flag.String("postgres", os.Getenv("SLUICE_TEST_POSTGRES"), "PostgreSQL DSN (a fresh schema is created and dropped); empty skips PostgreSQL")
	flag.Parse()
	ctx := context.Background()
	engines := []struct{ name, dsn string }{{"sqlite (embedded)", ""}}
	if *pg != "" {
		engines = append(engines, struct{ name, dsn string }{"postgresql", *pg})
	}
	var results []result
	for _, e := range engines {
		res, err := run(ctx, e.name, e.dsn, *n, *warm)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", e.name, err)
			os.Exit(1)
		}
		results = append(results, res)
	}
	report(os.Stdout, results, *n)
}

type result struct {
	engine string
	// start: CreateProcessingJob sent → process running; finish: process reaped → Completed
	// recorded; visible: process reaped → Completed seen by a waiter; total: create → visible.
	start, finish, visible, total []time.Duration
	// The start split in three: the API call until the row is written (CreationTime), the
	// runner claiming it and preparing the workspace (Downloading starts), and staging plus
	// spawning the process through the runtime's init shim.
	api, claim, spawn []time.Duration
}

func run(ctx context.Context, name, dsn string, n, warm int) (result, error) {
	res := result{engine: name}
	dir, err := os.MkdirTemp("", "sluice-bench-jobs-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.LogLevel = "warn"
	cfg.Jobs.Images = map[string]string{"bench/noop": "/bin/true"}
	if dsn != "" {
		schemaDSN, drop, err := freshSchema(dsn)
		if err != nil {
			return res, err
		}
		defer drop()
		cfg.Database = schemaDSN
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return res, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(rctx) }()
	defer func() { cancel(); <-done }()

	keys, err := srv.Store().AccessKeys(ctx)
	if err != nil || len(keys) == 0 {
		return res, fmt.Errorf("root key: %v", err)
	}
	client := sagemaker.New(sagemaker.Options{
		Region: cfg.Region, BaseEndpoint: aws.String(srv.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(keys[0].AccessKeyID, keys[0].Secret, ""),
	})
	runner := srv.Jobs()
	for i := 0; i < warm+n; i++ {
		jobName := fmt.Sprintf("noop-%d", i)
		sent := time.Now()
		_, err := client.CreateProcessingJob(ctx, &sagemaker.CreateProcessingJobInput{
			ProcessingJobName: aws.String(jobName),
			RoleArn:           aws.String("arn:aws:iam::000000000000:role/bench"),
			AppSpecification:  &types.AppSpecification{ImageUri: aws.String("bench/noop")},
			ProcessingResources: &types.ProcessingResources{ClusterConfig: &types.ProcessingClusterConfig{
				InstanceCount: aws.Int32(1), InstanceType: types.ProcessingInstanceTypeMlM5Large, VolumeSizeInGB: aws.Int32(1)}},
		})
		if err != nil {
			return res, err
		}
		j, err := runner.WaitProcessingJob(ctx, jobName)
		seen := time.Now()
		if err != nil {
			return res, err
		}
		if j.ProcessingJobStatus != jobs.StatusCompleted {
			return res, fmt.Errorf("%s: %s %s", jobName, j.ProcessingJobStatus, j.FailureReason)
		}
		if i < warm {
			continue
		}
		var proc, completed, staging *jobs.Transition
		for k := range j.Transitions {
			switch j.Transitions[k].Status {
			case jobs.SecondaryProcessing:
				proc = &j.Transitions[k]
			case jobs.SecondaryCompleted:
				completed = &j.Transitions[k]
			case jobs.SecondaryDownloading:
				staging = &j.Transitions[k]
			}
		}
		if proc == nil || completed == nil || staging == nil {
			return res, fmt.Errorf("%s: timeline without Processing or Completed: %+v", jobName, j.Transitions)
		}
		res.start = append(res.start, proc.StartTime.Sub(sent))
		res.finish = append(res.finish, completed.StartTime.Sub(proc.EndTime))
		res.visible = append(res.visible, seen.Sub(proc.EndTime))
		res.total = append(res.total, seen.Sub(sent))
		res.api = append(res.api, j.CreationTime.Sub(sent))
		res.claim = append(res.claim, staging.StartTime.Sub(j.CreationTime))
		res.spawn = append(res.spawn, proc.StartTime.Sub(staging.StartTime))
	}
	return res, nil
}

func freshSchema(dsn string) (string, func(), error) {
	var b [6]byte
	rand.Read(b[:])
	schema := "bench_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		db.Close()
		return "", nil, err
	}
	u, err := url.Parse(dsn)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() { db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); db.Close() }, nil
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func report(w io.Writer, results []result, n int) {
	fmt.Fprintf(w, "no-op processing jobs (image mapped to /bin/true), %d per database, one at a time\n\n", n)
	fmt.Fprintln(w, "| database | measure | p50 | p90 | p99 | max |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range results {
		rows := []struct {
			name string
			ds   []time.Duration
		}{
			{"CreateProcessingJob sent → process running", r.start},
			{"… of which: request until the job row is written", r.api},
			{"… of which: claim and fresh workspace", r.claim},
			{"… of which: staging and spawning the process", r.spawn},
			{"process exit → Completed recorded", r.finish},
			{"process exit → Completed visible to a waiter", r.visible},
			{"CreateProcessingJob sent → Completed visible", r.total},
		}
		for _, row := range rows {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.engine, row.name,
				ms(pct(row.ds, 0.5)), ms(pct(row.ds, 0.9)), ms(pct(row.ds, 0.99)), ms(pct(row.ds, 1)))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "target: p50 ≤ 20 ms for create → running and for exit → Completed, on the embedded default")
	for _, r := range results {
		ok := func(d time.Duration) string {
			if d <= 20*time.Millisecond {
				return "met"
			}
			return "MISSED"
		}
		fmt.Fprintf(w, "%s: create → running p50 %s (%s), exit → Completed p50 %s (%s)\n",
			strings.SplitN(r.engine, " ", 2)[0], ms(pct(r.start, 0.5)), ok(pct(r.start, 0.5)), ms(pct(r.visible, 0.5)), ok(pct(r.visible, 0.5)))
	}
}
