package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/store"
)

// ProfileName is the AWS profile the server writes for its root key.
const ProfileName = "sluice"

// keyLookup serves SigV4 verification from the store.
type keyLookup struct{ s *store.Store }

func (k keyLookup) LookupKey(ctx context.Context, id string) (string, awsapi.Principal, error) {
	key, err := k.s.AccessKey(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", awsapi.Principal{}, awsapi.ErrUnknownKey
	}
	if err != nil {
		return "", awsapi.Principal{}, err
	}
	return key.Secret, awsapi.Principal{AccessKeyID: key.AccessKeyID, Name: key.Name}, nil
}

// NewAccessKey generates a key id and secret in AWS's shapes (20 upper-case characters; 40
// characters of base64-like text).
func NewAccessKey(name string) store.AccessKey {
	const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	const secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	id := make([]byte, 16)
	rand.Read(id)
	for i := range id {
		id[i] = upper[int(id[i])%len(upper)]
	}
	sec := make([]byte, 40)
	rand.Read(sec)
	for i := range sec {
		sec[i] = secretChars[int(sec[i])%len(secretChars)]
	}
	return store.AccessKey{AccessKeyID: "AKSL" + string(id), Secret: string(sec), Name: name, CreatedAt: time.Now().UTC()}
}

// bootstrapRootKey creates the root key on first start and writes an AWS credentials and config
// file pair into the data directory. It reports whether it created them.
func bootstrapRootKey(ctx context.Context, s *store.Store, dataDir, region, endpoint string) (bool, error) {
	keys, err := s.AccessKeys(ctx)
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if k.Root {
			// Keep the profile's endpoint in step with where the server listens now.
			return false, writeProfile(dataDir, k, region, endpoint)
		}
	}
	k := NewAccessKey("root")
	k.Root = true
	if err := s.CreateAccessKey(ctx, k); err != nil {
		return false, err
	}
	return true, writeProfile(dataDir, k, region, endpoint)
}

func writeProfile(dataDir string, k store.AccessKey, region, endpoint string) error {
	creds := fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", ProfileName, k.AccessKeyID, k.Secret)
	conf := fmt.Sprintf("[profile %s]\nregion = %s\nendpoint_url = %s\n", ProfileName, region, endpoint)
	if err := writeFileAtomic(filepath.Join(dataDir, "credentials"), creds, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dataDir, "config"), conf, 0o600)
}

func writeFileAtomic(path, content string, mode os.FileMode) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == content {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// endpointURL turns a listen address into the URL clients use.
func endpointURL(addr string) string {
	host, port, _ := strings.Cut(addr, ":")
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		host, port = addr[:i], addr[i+1:]
	}
	if host == "" || host == "0.0.0.0" || host == "[::]" {
		host = "127.0.0.1"
	}
	return "http://" + host + ":" + port
}
