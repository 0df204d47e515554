
# Added by retry-on to clap_complete's script above: the profile names after
# -P/--profile (the user's and the built-in ones, from --list-profiles), and
# the command and its arguments after `--` or the first operand, completed as
# bash completes that command on its own (bash-completion's _command_offset).
_retry_on() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local i=1 start= config=()
    while (( i < COMP_CWORD )); do
        case ${COMP_WORDS[i]} in
            --) start=$(( i + 1 )); break ;;
            @VALUED@)
                case ${COMP_WORDS[i]} in
                    -c | --config)
                        local file=${COMP_WORDS[i+1]/#=/${COMP_WORDS[i+2]}}
                        config=(--config "${file/#\~/$HOME}") ;;
                esac
                # bash splits --option=value into three words.
                if [[ ${COMP_WORDS[i+1]} == = ]]; then (( i += 3 )); else (( i += 2 )); fi
                continue ;;
            --no-config) config=(--no-config) ;;
            -*) ;;
            *) start=$i; break ;;
        esac
        (( i++ ))
    done
    if [[ -z $start && $i -eq $COMP_CWORD && $cur != -* ]]; then
        start=$i
    fi
    if [[ -n $start ]]; then
        if declare -F _command_offset >/dev/null; then
            _command_offset "$start"
        elif (( start == COMP_CWORD )); then
            COMPREPLY=( $(compgen -c -- "$cur") )
        else
            COMPREPLY=()  # -o default: file names
        fi
        return 0
    fi
    [[ $prev == = ]] && prev=${COMP_WORDS[COMP_CWORD-2]}
    case $prev in
        -P | --profile | -[@SWITCHES@]*P) # also a cluster such as -qP
            if (( i > COMP_CWORD )); then
                local profiles
                profiles=$("${COMP_WORDS[0]}" "${config[@]}" --list-profiles 2>/dev/null | cut -d' ' -f1)
                COMPREPLY=( $(compgen -W "$profiles" -- "$cur") )
                return 0
            fi ;;
    esac
    @CLAP_FUNCTION@ "$@"
}

complete -F _retry_on -o bashdefault -o default retry-on
