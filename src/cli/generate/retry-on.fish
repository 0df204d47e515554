
# Added by retry-on to clap_complete's script above, each of whose lines
# applies only while the word being completed is retry-on's own: the profile
# names after -P/--profile (the user's and the built-in ones, from
# --list-profiles, with the -c FILE or --no-config of the line), and after
# `--` or the first operand, the command and its arguments, completed as
# fish completes that command on its own.

# Reads the line up to the cursor as retry-on parses it. `__retry_on_words
# command` succeeds once the word being completed is the command's (its
# name or an argument), and prints the command's part of the line, for
# `complete -C`; `__retry_on_words config` prints the options that choose
# the configuration file.
function __retry_on_words
    set -l words (commandline -opc)
    set -e words[1]
    set -l config
    set -l started
    set -l value_next
    while set -q words[1]
        set -l word $words[1]
        set -e words[1]
        if test "$word" = --
            set started 1
            break
        else if string match -qr -- '@VALUED@' $word
            # Its value is the next word, or the one being completed.
            set -q words[1]; or set value_next 1
            if contains -- $word -c --config; and set -q words[1]
                set config --config $words[1]
            end
            set -e words[1]
        else if string match -q -- '--config=*' $word
            set config --config (string replace -- --config= '' $word)
        else if test "$word" = --no-config
            set config --no-config
        else if not string match -q -- '-*' $word
            set started 1
            set words $word $words
            break
        end
    end
    if test "$argv[1]" = config
        # A file's ~ is not expanded on the line before it is run.
        set -q config[1]; and printf '%s\n' (string replace -r -- '^~(?=/|$)' ~ $config)
        return 0
    end
    set -l current (commandline -ct)
    if not set -q started[1]
        # The first operand starts the command, as it does for retry-on.
        set -q value_next[1]; and return 1
        string match -q -- '-*' "$current"; and return 1
    end
    # (string join's status says whether it joined anything.)
    string join -- ' ' (string escape -- $words) "$current"
    return 0
end

function __retry_on_own
    not __retry_on_words command >/dev/null
end

function __retry_on_profiles
    set -l line (commandline -opc)
    $line[1] (__retry_on_words config) --list-profiles 2>/dev/null | string replace -r ' .*' ''
end

function __retry_on_command
    set -l line (__retry_on_words command); and complete -C "$line"
end

complete -c retry-on -n __retry_on_own -s P -l profile -x -a '(__retry_on_profiles)'
complete -c retry-on -n '__retry_on_words command >/dev/null' -x -a '(__retry_on_command)'
