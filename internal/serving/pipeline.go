package serving

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
)

// pipelineServer is a serial inference pipeline: each container's answer is the next one's
// request, and the last answer is the caller's. The first container that fails or answers
// with an error status ends the call with its answer.
type pipelineServer struct {
	name   string
	stages []ModelServer
	dir    string
}

func (p *pipelineServer) Invoke(ctx context.Context, req *Request, resp *Response) error {
	cur := *req
	var carry []byte
	for i, s := range p.stages {
		resp.Reset()
		if err := s.Invoke(ctx, &cur, resp); err != nil {
			return fmt.Errorf("serving: pipeline %s, container %d: %w", p.name, i+1, err)
		}
		if !resp.OK() || i == len(p.stages)-1 {
			return nil
		}
		carry = append(carry[:0], resp.Body...)
		cur = Request{Body: carry, ContentType: resp.ContentType, Accept: req.Accept, CustomAttributes: req.CustomAttributes, InferenceID: req.InferenceID}
	}
	return nil
}

func (p *pipelineServer) Scale(ctx context.Context, replicas int) error {
	var errs []error
	for _, s := range p.stages {
		errs = append(errs, s.Scale(ctx, replicas))
	}
	return errors.Join(errs...)
}

func (p *pipelineServer) Status() Status {
	st := Status{Kind: "pipeline"}
	for i, s := range p.stages {
		x := s.Status()
		if i == 0 || x.Replicas < st.Replicas {
			st.Replicas = x.Replicas
		}
		if i == 0 || x.Healthy < st.Healthy {
			st.Healthy = x.Healthy
		}
	}
	return st
}

func (p *pipelineServer) Close(ctx context.Context) error {
	var errs []error
	for _, s := range slices.Backward(p.stages) {
		errs = append(errs, s.Close(ctx))
	}
	os.RemoveAll(p.dir)
	return errors.Join(errs...)
}
