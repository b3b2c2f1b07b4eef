package server

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/sluice-ml/sluice/internal/alarm"
	"github.com/sluice-ml/sluice/internal/api/cloudwatch"
	"github.com/sluice-ml/sluice/internal/awsapi"
	"github.com/sluice-ml/sluice/internal/config"
	"github.com/sluice-ml/sluice/internal/store"
)

// newAlarms builds the metric recorder and the alarm service over the store. The evaluator
// (Service.Run) runs as an actor; the data plane records into Service.Recorder().
func newAlarms(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) (*alarm.Service, error) {
	rec := alarm.NewRecorder(nil)
	return alarm.Open(ctx, st, rec, alarm.Options{Region: cfg.Region, AccountID: cfg.AccountID, Log: log})
}

// mountCloudWatch serves CloudWatch's operations: query and JSON requests arrive on POST / (the
// returned handler sends them here and everything else to next), RPC v2 CBOR requests on their
// own path. CloudWatch authenticates inside, to answer auth errors in the client's protocol.
func mountCloudWatch(mux *http.ServeMux, svc *alarm.Service, verifier *awsapi.Verifier, observe awsapi.Observer, log *slog.Logger, next http.Handler) http.Handler {
	cw := (&cloudwatch.API{Alarms: svc, Log: log}).Service(verifier.Verify, observe)
	mux.Handle("POST /service/"+cloudwatch.ServiceID+"/operation/{op}", cw)
	return cw.Or(next)
}

// Alarms is the alarm service. Its Recorder is where the data plane records invocation metrics
// (Recorder().Endpoint(name, variant).Invocation(...)), and deployments subscribe to alarm state
// changes with Watch.
func (s *Server) Alarms() *alarm.Service { return s.alarms }
