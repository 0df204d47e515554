# Added by retry-on to clap_complete's script: the profile names after
# -P/--profile, the user's and the built-in ones, from --list-profiles.
_retry_on_profiles() {
    local -a profiles
    profiles=(${${(f)"$(${~words[1]} --list-profiles 2>/dev/null)"}%% *})
    _wanted profiles expl profile compadd -a profiles
}

