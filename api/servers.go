package api

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/bbb-balance/bbb_balance/balancer"
	"github.com/bbb-balance/bbb_balance/bbb"
)

// Servers is how the call handlers reach the pool's servers: re-signed
// for each server, bounded by Timeout, and every outcome told to the pool
// (passive health).
type Servers struct {
	Pool    *balancer.Pool
	Client  *bbb.Client
	Timeout time.Duration // for a call forwarded to one server
	Logger  *zap.Logger
}

// forward sends a call to one server and hands its answer to the client.
// failMsg is the internalError text when the server gives no usable answer.
func (s *Servers) forward(w http.ResponseWriter, req *request, route balancer.Route, params bbb.Query, failMsg string) (*bbb.Result, bool) {
	res, err := s.call(req, route, params)
	s.answer(w, req, route, res, err, failMsg)
	return res, err == nil
}

// call sends a call to one server and tells the pool how it went (passive
// health), unless the client gave up first.
func (s *Servers) call(req *request, route balancer.Route, params bbb.Query) (*bbb.Result, error) {
	ctx, cancel := context.WithTimeout(req.r.Context(), s.Timeout)
	defer cancel()
	var ct string
	if req.body != nil {
		ct = "application/xml"
		if req.call == "putRecordingTextTrack" {
			ct = req.r.Header.Get("Content-Type")
		}
	}
	start := time.Now()
	res, err := s.Client.Do(ctx, route.Server, req.call, params, req.body, ct)
	if req.r.Context().Err() == nil {
		s.Pool.ReportCall(route.ServerID, time.Since(start), err)
	}
	return res, err
}

// answer hands a server's answer to the client, or internalError with
// failMsg when there is none.
func (s *Servers) answer(w http.ResponseWriter, req *request, route balancer.Route, res *bbb.Result, err error, failMsg string) {
	if err != nil {
		s.Logger.Warn("call to BBB server failed", zap.String("call", req.call), zap.String("server", route.ServerID), zap.Error(err))
		bbb.WriteError(w, bbb.KeyInternalError, failMsg)
		return
	}
	bbb.WriteXML(w, req.unscope(res.Body, route.MeetingID))
}
