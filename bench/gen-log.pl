#!/usr/bin/perl
# gen-log.pl BYTES [NEAR_MISS_PERCENT]
# Writes exactly BYTES bytes of AWS CLI --debug style text lines to stdout.
# None of them matches the built-in aws profile. NEAR_MISS_PERCENT (default 2)
# of the lines come close: error lines with other codes ("An error occurred
# (AccessDenied)", '"Code": "ValidationError"') and CloudFormation states that
# are not retried, so the pattern automaton has candidates to reject.
# Deterministic: the same arguments always give the same bytes.
use strict;
use warnings;

my $bytes = shift // die "usage: gen-log.pl BYTES [NEAR_MISS_PERCENT]\n";
my $near_miss = shift // 2;
my $block_size = 4 << 20;    # unique lines; the block repeats to reach BYTES
my $seed = 42;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return int(int($seed / 65536) * $_[0] / 32768); }
sub pick { return $_[ rnd(scalar @_) ]; }
sub hex_id { return join '', map { sprintf '%x', rnd(16) } 1 .. $_[0]; }
sub uuid { return join '-', hex_id(8), hex_id(4), hex_id(4), hex_id(4), hex_id(12); }

my @ops = qw(UpdateUser PutUserPolicy TagUser GetUser ListUserPolicies AttachRolePolicy CreateRole DescribeStacks PutObject GetObject);
my @mods = qw(botocore.endpoint botocore.parsers botocore.hooks botocore.retryhandler botocore.auth urllib3.connectionpool botocore.httpsession);
my @codes = qw(AccessDenied NoSuchEntity MalformedPolicyDocument ValidationError LimitExceeded InvalidClientTokenId ExpiredToken EntityAlreadyExists DeleteConflict);
my @states = qw(UPDATE_COMPLETE CREATE_COMPLETE ROLLBACK_COMPLETE UPDATE_ROLLBACK_FAILED DELETE_IN_PROGRESS REVIEW_IN_PROGRESS);

my $block = '';
my $n = 0;
while (length($block) < $block_size) {
    $n++;
    my $ts = sprintf '2024-05-%02d %02d:%02d:%02d,%03d', 1 + rnd(28), rnd(24), rnd(60), rnd(60), rnd(1000);
    my $op = pick(@ops);
    my $m = pick(@mods);
    my $line;
    if (rnd(10000) < $near_miss * 100) {
        my $kind = rnd(3);
        if ($kind == 0) {
            $line = "An error occurred (" . pick(@codes) . ") when calling the $op operation: User: arn:aws:iam::123456789012:user/dev-" . rnd(1000) . " is not authorized to perform: iam:$op";
        } elsif ($kind == 1) {
            $line = '    "Code": "' . pick(@codes) . '",';
        } else {
            $line = "Stack:arn:aws:cloudformation:eu-west-1:123456789012:stack/app-" . rnd(100) . "/" . uuid() . " is in " . pick(@states) . " state and can not be updated.";
        }
    } else {
        my $k = rnd(100);
        if ($k < 35) {
            $line = "$ts - MainThread - $m - DEBUG - Making request for OperationModel(name=$op) with params: {'url_path': '/', 'query_string': '', 'method': 'POST', 'headers': {'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8', 'User-Agent': 'aws-cli/2.15." . rnd(40) . " Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12'}}";
        } elsif ($k < 60) {
            $line = "$ts - MainThread - botocore.parsers - DEBUG - Response headers: {'x-amzn-RequestId': '" . uuid() . "', 'Content-Type': 'text/xml', 'Content-Length': '" . (200 + rnd(800)) . "', 'Date': 'Wed, 01 May 2024 12:00:00 GMT'}";
        } elsif ($k < 80) {
            $line = "$ts - MainThread - botocore.hooks - DEBUG - Event needs-retry.iam.$op: calling handler <botocore.retryhandler.RetryHandler object at 0x7f" . hex_id(10) . ">";
        } elsif ($k < 92) {
            $line = "$ts - MainThread - botocore.retryhandler - DEBUG - No retry needed.";
        } else {
            $line = "upload: ./build/artifact-" . rnd(100000) . ".tar.gz to s3://ci-artifacts-" . hex_id(6) . "/builds/" . uuid() . "/artifact.tar.gz";
        }
    }
    $block .= "$line\n";
}
# Cut the block at its last newline so that every repetition starts a line.
$block = substr($block, 0, rindex($block, "\n") + 1);
binmode STDOUT;
my $left = $bytes;
while ($left >= length $block) {
    print $block;
    $left -= length $block;
}
# Fill the rest with whole lines of the block, then one short filler line.
my $tail = substr($block, 0, $left);
my $cut = rindex($tail, "\n");
$tail = $cut >= 0 ? substr($tail, 0, $cut + 1) : '';
my $pad = $left - length $tail;
$tail .= ('.' x ($pad - 1)) . "\n" if $pad > 0;
print $tail;
