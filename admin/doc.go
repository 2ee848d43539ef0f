// Package admin is the broker's HTTP listener for operators: Prometheus
// metrics, a health check and a small JSON API over clients, subscriptions
// and retained messages (the [admin] section of sol.conf).
//
// # Endpoints
//
//	GET    /metrics                     Prometheus text format (metrics.WritePrometheus)
//	GET    /healthz                     {"status":"ok"}; never needs the token
//	GET    /api/v1/clients              ?offset=&limit= paged list of clients
//	GET    /api/v1/clients/{id}         one client
//	DELETE /api/v1/clients/{id}         disconnect it (5.0: DISCONNECT 0x98)
//	GET    /api/v1/subscriptions        ?client=&offset=&limit= paged list
//	GET    /api/v1/retained             ?topic=<filter>&offset=&limit= (default "#")
//	DELETE /api/v1/retained             ?topic=<topic name> delete one retained message
//
// Errors are JSON, {"error": "...", "status": N}: 400 for a bad query, 401
// for a missing or wrong bearer token, 404 for an unknown client, retained
// topic or path, 405 for a method an endpoint does not serve (with Allow),
// 503 when the broker did not answer within the request timeout.
//
// # The broker side
//
// The server calls the broker only through the Broker interface, one call
// per request, on the HTTP server's goroutines, with a context that ends
// after RequestTimeout. A broker implements each method by posting a
// request to the loop(s) that own the state, and waiting for the answer or
// ctx.Done(), so no loop state is ever touched off its loop. The server
// holds no lock while calling the broker.
//
// # Security
//
// The listener is off unless configured; examples bind it to loopback.
// With a token set, every endpoint but /healthz requires
// "Authorization: Bearer <token>", compared in constant time.
package admin
