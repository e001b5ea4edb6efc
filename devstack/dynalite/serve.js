// Runs dynalite's command line (same arguments), but survives a client that
// drops its connection in the middle of a request: dynalite rethrows the
// request's 'aborted' error (index.js, httpHandler), which would end the
// whole server and every test after it. A killed indexer, or a request
// cancelled by its context, does exactly that. Other errors still end it.
process.on('uncaughtException', function (err) {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error('dynalite: a client dropped a request:', err.message)
    return
  }
  console.error(err)
  process.exit(1)
})
require('./node_modules/dynalite/cli.js')
