# Added by retry-on to clap_complete's script: the profile names after
# -P/--profile, the user's and the built-in ones, from --list-profiles (with
# the -c FILE or --no-config of the line).
_retry_on_profiles() {
    local -a profiles config
    local file=${(Q)${opt_args[-c]:-$opt_args[--config]}}
    if (( $+opt_args[--no-config] )); then
        config=(--no-config)
    elif [[ -n $file ]]; then
        config=(--config ${file/#\~/$HOME})
    fi
    profiles=(${${(f)"$(${~words[1]} $config --list-profiles 2>/dev/null)"}%% *})
    _wanted profiles expl profile compadd -a profiles
}

# The command and its arguments, as zsh completes that command on its own.
# `_arguments -S` leaves a `--` in the words when it comes first
# (`retry-on -- ech`), where it would be taken for the command's name.
_retry_on_command() {
    if [[ $words[1] == -- ]]; then
        shift words
        (( CURRENT-- ))
    fi
    _cmdambivalent
}
