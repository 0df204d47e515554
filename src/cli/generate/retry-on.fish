
# Added by retry-on to clap_complete's script above: the profile names after
# -P/--profile (the user's and the built-in ones, from --list-profiles), and
# the command and its arguments after `--` or the first operand.
function __retry_on_profiles
    set -l line (commandline -opc)
    $line[1] --list-profiles 2>/dev/null | string replace -r ' .*' ''
end
complete -c retry-on -s P -l profile -x -a '(__retry_on_profiles)'
complete -c retry-on -x -a '(__fish_complete_subcommand --fcs-skip=1 @VALUED@)'
