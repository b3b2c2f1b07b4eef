package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sluice-ml/sluice/internal/blob"
)

func init() { addCommands(artifactCommands) }

func artifactCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{newCpCmd(g), newLsCmd(g)}
}

func newCpCmd(g *globals) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy files to and from the artifact store (s3:// URIs); folders and prefixes are copied recursively",
		Long: `Copy a local file or folder to an s3:// URI, or an object or prefix to a local path, through
the server's artifact store (whatever its backend). Paths map as SageMaker maps them:

  sluice cp data.csv s3://bucket/data/          uploads s3://bucket/data/data.csv
  sluice cp ./data s3://bucket/data             uploads every file below ./data under data/
  sluice cp s3://bucket/models/model.tar.gz .   downloads one object
  sluice cp s3://bucket/results ./results       downloads everything under the prefix`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, dst := args[0], args[1]
			srcS3, dstS3 := strings.HasPrefix(src, "s3://"), strings.HasPrefix(dst, "s3://")
			if srcS3 == dstS3 {
				return errors.New("cp: exactly one of SRC and DST must be an s3:// URI")
			}
			c, err := g.connect(ctx)
			if err != nil {
				return err
			}
			store := &remoteStore{c: c}
			if dstS3 {
				u, err := blob.ParseURI(dst)
				if err != nil {
					return err
				}
				total, err := localSize(src)
				if err != nil {
					return err
				}
				bar := g.progress(total, "upload", quiet)
				err = blob.CopyToStore(ctx, store, src, u, bar.add)
				bar.done(err)
				if err == nil {
					fmt.Fprintf(g.stderr, "Copied %s to %s (%s).\n", src, u, humanBytes(total))
				}
				return err
			}
			u, err := blob.ParseURI(src)
			if err != nil {
				return err
			}
			total, err := remoteSize(ctx, store, u)
			if err != nil {
				return err
			}
			bar := g.progress(total, "download", quiet)
			err = blob.CopyFromStore(ctx, store, u, dst, bar.add)
			bar.done(err)
			if err == nil {
				fmt.Fprintf(g.stderr, "Copied %s to %s (%s).\n", u, dst, humanBytes(total))
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.Flags().BoolP("recursive", "r", false, "accepted for familiarity; folders and prefixes are always copied recursively")
	return cmd
}

func newLsCmd(g *globals) *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:   "ls s3://BUCKET[/PREFIX]",
		Short: "List objects in the artifact store, one folder level at a time (-r: everything below)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := blob.ParseURI(args[0])
			if err != nil {
				return fmt.Errorf("ls: %w (name a bucket: sluice ls s3://BUCKET[/PREFIX])", err)
			}
			c, err := g.connect(cmd.Context())
			if err != nil {
				return err
			}
			store := &remoteStore{c: c}
			var objects []blob.ObjectInfo
			if err := store.List(cmd.Context(), u, func(o blob.ObjectInfo) error {
				objects = append(objects, o)
				return nil
			}); err != nil {
				return err
			}
			// One level: keys below the prefix's folder, folded at their next "/".
			folder := u.Key[:strings.LastIndexByte(u.Key, '/')+1]
			type entry struct {
				Key      string     `json:"Key"`
				Size     int64      `json:"Size"`
				Modified *time.Time `json:"LastModified,omitempty"`
				Prefix   bool       `json:"Prefix,omitempty"`
			}
			var entries []entry
			seen := map[string]bool{}
			for _, o := range objects {
				rest := o.URI.Key[len(folder):]
				if i := strings.IndexByte(rest, '/'); i >= 0 && !recursive {
					p := rest[:i+1]
					if !seen[p] {
						seen[p] = true
						entries = append(entries, entry{Key: folder + p, Prefix: true})
					}
					continue
				}
				m := o.ModTime
				entries = append(entries, entry{Key: o.URI.Key, Size: o.Size, Modified: &m})
			}
			return g.emit(entries, func(w *tabwriter.Writer) {
				for _, e := range entries {
					if e.Prefix {
						fmt.Fprintf(w, "%s\t%s\tPRE %s\n", "", "", strings.TrimPrefix(e.Key, folder))
						continue
					}
					name := e.Key
					if !recursive {
						name = strings.TrimPrefix(e.Key, folder)
					}
					fmt.Fprintf(w, "%s\t%d\t%s\n", fmtTime(e.Modified), e.Size, name)
				}
			})
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every object below the prefix with its full key")
	return cmd
}

// localSize is the number of bytes below a file or folder, for the progress bar.
func localSize(p string) (int64, error) {
	var total int64
	err := filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cp: %w", err)
	}
	return total, nil
}

// remoteSize is the size of an object, or of everything under a prefix.
func remoteSize(ctx context.Context, s *remoteStore, u blob.URI) (int64, error) {
	if !u.IsPrefix() {
		if info, err := s.Stat(ctx, u); err == nil {
			return info.Size, nil
		} else if !errors.Is(err, blob.ErrNotExist) {
			return 0, err
		}
	}
	var total int64
	err := s.List(ctx, u, func(o blob.ObjectInfo) error {
		total += o.Size
		return nil
	})
	return total, err
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progress is a byte progress bar on stderr, shown only when stderr is a terminal.
type progress struct{ bar *progressbar.ProgressBar }

func (g *globals) progress(total int64, what string, quiet bool) progress {
	f, ok := g.stderr.(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return progress{}
	}
	return progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(g.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)}
}

func (p progress) add(n int64) {
	if p.bar != nil {
		p.bar.Add64(n)
	}
}

func (p progress) done(err error) {
	if p.bar == nil {
		return
	}
	if err == nil {
		p.bar.Finish()
	} else {
		p.bar.Exit()
	}
}

// remoteStore is the server's artifact store seen through the objects API; it implements
// blob.Store, so the blob package's copy helpers (and their SageMaker path rules) work on it.
type remoteStore struct{ c *conn }

func objectPath(u blob.URI) string {
	segs := strings.Split(u.Key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/api/v1/objects/" + url.PathEscape(u.Bucket) + "/" + strings.Join(segs, "/")
}

// do sends a signed request with a streamed body (signed as UNSIGNED-PAYLOAD, as S3 clients do
// for streams) and returns the response whatever its status.
func (s *remoteStore) do(ctx context.Context, method, path string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.c.endpoint+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	const unsigned = "UNSIGNED-PAYLOAD"
	req.Header.Set("X-Amz-Content-Sha256", unsigned)
	creds, err := s.c.aws.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, unsigned, "sagemaker", s.c.aws.Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server at %s: %w", s.c.endpoint, err)
	}
	return resp, nil
}

// check turns an error answer into an error; 404 wraps blob.ErrNotExist.
func check(resp *http.Response, what string) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
	}
	if msg == "" {
		msg = resp.Status
	}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: %s: %w", what, msg, blob.ErrNotExist)
	}
	return fmt.Errorf("%s: %s", what, msg)
}

// Put implements blob.Store.
func (s *remoteStore) Put(ctx context.Context, u blob.URI, r io.Reader, size int64) error {
	if size < 0 {
		size = -1
	}
	resp, err := s.do(ctx, http.MethodPut, objectPath(u), r, size)
	if err != nil {
		return err
	}
	if err := check(resp, "put "+u.String()); err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Get implements blob.Store.
func (s *remoteStore) Get(ctx context.Context, u blob.URI) (io.ReadCloser, error) {
	resp, err := s.do(ctx, http.MethodGet, objectPath(u), nil, 0)
	if err != nil {
		return nil, err
	}
	if err := check(resp, "get "+u.String()); err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Stat implements blob.Store.
func (s *remoteStore) Stat(ctx context.Context, u blob.URI) (blob.ObjectInfo, error) {
	resp, err := s.do(ctx, http.MethodHead, objectPath(u), nil, 0)
	if err != nil {
		return blob.ObjectInfo{}, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return blob.ObjectInfo{}, fmt.Errorf("stat %s: %w", u, blob.ErrNotExist)
	case resp.StatusCode/100 != 2:
		return blob.ObjectInfo{}, fmt.Errorf("stat %s: %s", u, resp.Status)
	}
	size, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	mod, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	return blob.ObjectInfo{URI: u, Size: size, ModTime: mod, ETag: strings.Trim(resp.Header.Get("ETag"), `"`)}, nil
}

// List implements blob.Store.
func (s *remoteStore) List(ctx context.Context, prefix blob.URI, fn func(blob.ObjectInfo) error) error {
	after := ""
	for {
		q := url.Values{"prefix": {prefix.Key}, "limit": {"1000"}}
		if after != "" {
			q.Set("after", after)
		}
		resp, err := s.do(ctx, http.MethodGet, "/api/v1/objects/"+url.PathEscape(prefix.Bucket)+"?"+q.Encode(), nil, 0)
		if err != nil {
			return err
		}
		if err := check(resp, "list "+prefix.String()); err != nil {
			return err
		}
		var page struct {
			Objects []struct {
				Key      string    `json:"key"`
				Size     int64     `json:"size"`
				Modified time.Time `json:"modified"`
				ETag     string    `json:"etag"`
			} `json:"objects"`
			Next string `json:"next"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Objects {
			if err := fn(blob.ObjectInfo{URI: blob.URI{Bucket: prefix.Bucket, Key: o.Key}, Size: o.Size, ModTime: o.Modified, ETag: o.ETag}); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		after = page.Next
	}
}

// Delete implements blob.Store.
func (s *remoteStore) Delete(ctx context.Context, u blob.URI) error {
	resp, err := s.do(ctx, http.MethodDelete, objectPath(u), nil, 0)
	if err != nil {
		return err
	}
	if err := check(resp, "delete "+u.String()); err != nil {
		return err
	}
	return resp.Body.Close()
}
