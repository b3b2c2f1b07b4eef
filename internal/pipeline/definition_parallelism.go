package pipeline

import "fmt"

// ParallelismConfiguration limits how many steps of one execution run at the same time. It
// comes with CreatePipeline and UpdatePipeline (the pipeline's default) and with
// StartPipelineExecution (an override for one execution), not inside the definition.
type ParallelismConfiguration struct {
	MaxParallelExecutionSteps int `json:"MaxParallelExecutionSteps"`
}

// Validate checks the configuration as SageMaker does: at least one step at a time.
func (c ParallelismConfiguration) Validate() error {
	if c.MaxParallelExecutionSteps < 1 {
		return &ValidationError{Field: "ParallelismConfiguration.MaxParallelExecutionSteps",
			Msg: fmt.Sprintf("%d is below the minimum of 1", c.MaxParallelExecutionSteps)}
	}
	return nil
}

// MaxParallelSteps returns the limit that applies to an execution: the execution's override
// if it has one, else the pipeline's, else 0, meaning the engine's own limit.
func MaxParallelSteps(pipeline, execution *ParallelismConfiguration) int {
	switch {
	case execution != nil && execution.MaxParallelExecutionSteps > 0:
		return execution.MaxParallelExecutionSteps
	case pipeline != nil && pipeline.MaxParallelExecutionSteps > 0:
		return pipeline.MaxParallelExecutionSteps
	}
	return 0
}
