//go:build !unix

package producer

// oNoFollow is not available: the platform has no O_NOFOLLOW.
const oNoFollow = 0
