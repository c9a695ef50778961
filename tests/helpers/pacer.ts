/**
 * The paced broadcast program the broadcast tests share.
 *
 * @module
 */

/**
 * A perl program that prints `N TIME PAD` every PERIOD ms (its arguments:
 * PERIOD SIZE) at a fixed pace, catching up after any delay: N counts from 1,
 * TIME is when it was printed (epoch seconds), PAD is SIZE bytes of `x`.
 */
export const PACER = `#!/usr/bin/perl
use strict;
use Time::HiRes qw(time sleep);
$| = 1;
my ($period, $size) = @ARGV;
my $pad = "x" x $size;
my $t0 = time;
my $i = 0;
while (1) {
  $i++;
  printf "%d %.6f %s\\n", $i, time, $pad;
  my $d = $t0 + $i * $period / 1000 - time;
  sleep($d) if $d > 0;
}
`;

/** Writes {@link PACER} to `path`, executable; returns the path. */
export async function writePacer(path: string): Promise<string> {
  await Deno.writeTextFile(path, PACER);
  await Deno.chmod(path, 0o755);
  return path;
}
